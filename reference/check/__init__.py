"""The verifier: a session runs an implementation on canonical inputs; the catalogue judges it.

``session``: the harness (numpy in, numpy out, every output checked at the boundary).
``measure``: comparisons of one implementation with the float64 model, without verdicts.
``diagnose``: what a disagreement probably means, as a code and a sentence.
``catalogue``: the one list of checks; ``run``: running them, an exception or a hang a failure.
``__main__`` (``python -m reference.check``) and ``pytest_plugin`` are its two drivers.
"""
