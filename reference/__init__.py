"""The float64 reference and the verifier, one layer per folder, each importing only the ones below.

- ``problem``: the vocabulary. Sizes, canonical float64 inputs, named shapes, the tutorial's constants.
- ``model``: the float64 network, its gradients and training, the error scales and the tolerance model.
- ``harness``: ``Session`` runs one implementation (``impls``) in a child process of its own and
  hands back numpy; the child's side is ``impls.serve``, the messages ``impls.protocol``.
- ``checks``: the one catalogue of checks, the measurements and the diagnoses behind it.
- ``drivers``: ``python -m reference`` (the CLI), the pytest plugin and the bug-catalogue score.
  They iterate the catalogue; nothing imports them.
"""
