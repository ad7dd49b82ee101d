"""A plug-in that raises when it is called with Python's garbage collector on.

Correct otherwise. The race times every contender with the collector off (bench/race.py), so a process
timing the same way alone must too, or the two differ by more than where they ran
(tests/test_race.py, the process taking turns). One Implementation subclass, so the file alone names it.
"""

import gc

from impls.numpy_manual import NumpyManual


class FailsWithCollectorOn(NumpyManual):
    name, summary = "fails-with-collector-on", "numpy-manual that raises where gc is enabled while it is timed"

    def loss_and_grads(self, s):
        if gc.isenabled():
            raise RuntimeError("timed with the garbage collector on")
        return super().loss_and_grads(s)
