"""The float64 reference and the verifier, in three layers, each importing only the ones below.

- ``reference.problem``: the vocabulary. Problem sizes, the canonical float64 inputs, the named
  shapes and constants every check uses. Imports nothing of the project.
- ``reference.model``: the float64 network (one forward pass), its gradients, gradient descent,
  the error scales and the tolerance model, and the inputs at each check's parameter point.
- ``reference.check``: the verifier. A ``Session`` runs an implementation (``impls``) on
  canonical inputs; the catalogue of checks compares it with the model and diagnoses a
  disagreement; ``python -m reference.check`` and the pytest plugin both iterate that catalogue.
"""
