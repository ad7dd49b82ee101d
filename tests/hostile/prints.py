"""A plug-in that prints as the tutorials do (``print(t, loss)``): to stdout, from the code under test.

Correct otherwise: whatever pipe a harness talks to it through must not be its stdout
(tests/test_race.py, the process taking turns). One Implementation subclass, so the file alone names it.
"""

from impls.numpy_manual import NumpyManual


class PrintsItsLoss(NumpyManual):
    name, summary = "prints-its-loss", "numpy-manual that prints its loss at every step, as the tutorials do"

    def step(self, s):
        loss = super().step(s)
        print("loss", loss)
        return loss
