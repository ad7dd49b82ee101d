"""A plug-in whose ``loss_and_grads`` raises, as a learner's slip would: Python's ``sum()`` given numpy's ``axis=``.

The drivers must lead its diagnosis with this file, the line that raised and its text, then the
exception (tests/test_isolation.py). One Implementation subclass, so the file alone names it.
"""

import numpy as np

from impls.numpy_manual import NumpyManual, forward


class SumWithAxis(NumpyManual):
    name, summary = "raises-in-loss-and-grads", "calls Python's sum() with numpy's axis= keyword"
    planted = "error"

    def loss_and_grads(self, s):
        y_pred = forward(s.x, **s.params)[2]
        # The slip: np.sum was meant.
        loss = sum(np.square(y_pred - s.y), axis=None)
        return loss, {}
