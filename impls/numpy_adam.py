"""numpy, Adam written out by hand.

The tutorial trains the network with ``torch.optim.Adam(lr=1e-4)``; here its update is written
out beside numpy-manual's hand-derived backward. Adam keeps two running averages per parameter:
``m`` of the gradient and ``v`` of its square. Both start at zero, so early on they are too small;
dividing by ``1 - beta ** t`` corrects that bias. ``eps`` is added to the square root, not under it.
"""

from dataclasses import dataclass

import numpy as np

from impls.numpy_manual import NumpyManual, State as SGDState, loss_and_grads


@dataclass
class State(SGDState):
    m: dict          # first moment per parameter, zeros at the start
    v: dict          # second moment per parameter, zeros at the start
    t: int = 0       # steps taken: the bias correction needs it


class NumpyAdam(NumpyManual):
    name = "numpy-adam"
    summary = "numpy with a hand-derived backward pass and Adam written out (bias correction, eps outside the root)"
    optimizer = "adam"
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def prepare(self, x, y, params, lr):
        params = dict(params)
        zeros = {name: np.zeros_like(p) for name, p in params.items()}
        return State(x, y, params, lr, zeros, {name: z.copy() for name, z in zeros.items()})

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        s.t += 1
        for name, grad in grads.items():
            s.m[name] = self.beta1 * s.m[name] + (1 - self.beta1) * grad          # like the parameter
            s.v[name] = self.beta2 * s.v[name] + (1 - self.beta2) * grad**2       # like the parameter
            m_hat = s.m[name] / (1 - self.beta1**s.t)
            v_hat = s.v[name] / (1 - self.beta2**s.t)
            s.params[name] -= s.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return loss
