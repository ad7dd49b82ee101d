"""numpy, SGD with momentum written out by hand.

The DynamicNet tutorial trains with ``torch.optim.SGD(lr, momentum=0.9)``; here that update is
written out beside numpy-manual's hand-derived backward, in torch's convention: the velocity
starts as the first gradient, then ``velocity = momentum * velocity + grad`` and
``w -= lr * velocity``. The velocity is part of the training state: it carries from step to step.
"""

from dataclasses import dataclass, field

from impls.numpy_manual import NumpyManual, State as SGDState, loss_and_grads


@dataclass
class State(SGDState):
    velocity: dict = field(default_factory=dict)   # per parameter; empty until the first step


class NumpyMomentum(NumpyManual):
    name = "numpy-momentum"
    summary = "numpy with a hand-derived backward pass and SGD with momentum 0.9 written out (torch's convention)"
    optimizer = "sgd-momentum"
    momentum = 0.9

    def prepare(self, x, y, params, lr):
        return State(x, y, dict(params), lr)

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        for name, grad in grads.items():
            if name in s.velocity:
                s.velocity[name] = self.momentum * s.velocity[name] + grad
            else:
                s.velocity[name] = grad
            s.params[name] -= s.lr * s.velocity[name]
        return loss
