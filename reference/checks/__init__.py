"""The checks: the one catalogue, its check bodies, and the measurements and diagnoses they use.

``catalogue``: the list ``CHECKS``. ``check``: what a check is and what it found. ``two_layer`` and
``dynamic``: the check bodies of each network. ``measure``: comparisons with the float64 model,
without verdicts. ``diagnose``, ``slips``, ``update_rule``, ``batches``: what a disagreement
probably means. ``stateful``: random call sequences. ``power``: the detection floor. ``run``:
running checks, an exception or a hang a failure.
"""
