"""Known-wrong implementations: real mistakes from the tutorials, kept to prove the suite rejects them.

Each subclasses the correct implementation and overrides the one method where the mistake
lives, so the mistake is the whole difference. None is in the registry users see.
"""
