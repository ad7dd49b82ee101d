"""Adam and momentum written right in other forms than the built-ins: no check may fail them.

Each is algebraically the declared rule: Adam with the bias correction folded into the step size
and eps (the paper's "efficient" form), Adam's moments updated as increments toward the gradient,
Adam as optax's chain of scale_by_adam and a scale; momentum with the lr folded into the buffer,
momentum's buffer started at zero (torch starts it at the first gradient, which momentum times
zero plus the gradient equals), momentum as optax's chain of trace and a scale.
"""

import numpy as np
import optax

from impls.jax_optax import JaxOptax
from impls.numpy_adam import NumpyAdam
from impls.numpy_manual import loss_and_grads
from impls.numpy_momentum import NumpyMomentum


class AdamEfficientForm(NumpyAdam):
    """lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t) and eps * sqrt(1 - beta2**t): Kingma and Ba's section 2."""
    name, summary = "correct-adam-efficient-form", "Adam with the bias correction folded into the step size"

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        s.t += 1
        root = np.sqrt(1 - self.beta2**s.t)
        step_size = s.lr * root / (1 - self.beta1**s.t)
        for name, grad in grads.items():
            s.m[name] = self.beta1 * s.m[name] + (1 - self.beta1) * grad
            s.v[name] = self.beta2 * s.v[name] + (1 - self.beta2) * grad**2
            s.params[name] -= step_size * s.m[name] / (np.sqrt(s.v[name]) + self.eps * root)
        return loss


class AdamIncrements(NumpyAdam):
    """m += (1 - beta1) (g - m), v += (1 - beta2) (g**2 - v): each moment moved toward the new value."""
    name, summary = "correct-adam-increments", "Adam's moments updated as increments toward the gradient"

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        s.t += 1
        for name, grad in grads.items():
            s.m[name] += (1 - self.beta1) * (grad - s.m[name])
            s.v[name] += (1 - self.beta2) * (grad * grad - s.v[name])
            m_hat = s.m[name] / (1 - self.beta1**s.t)
            v_hat = s.v[name] / (1 - self.beta2**s.t)
            s.params[name] = s.params[name] - s.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return loss


def adam_chain(lr):
    return optax.chain(optax.scale_by_adam(), optax.scale(-lr))


class OptaxAdamChain(JaxOptax):
    name, summary, optimizer = "correct-optax-adam-chain", "optax.chain(scale_by_adam(), scale(-lr))", "adam"
    make_optimizer = staticmethod(adam_chain)


class MomentumLrInBuffer(NumpyMomentum):
    """velocity = momentum * velocity + lr * g; w -= velocity: torch's rule at a constant lr."""
    name, summary = "correct-momentum-lr-in-buffer", "momentum with the lr folded into the buffer"

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        for name, grad in grads.items():
            s.velocity[name] = self.momentum * s.velocity.get(name, 0.0) + s.lr * grad
            s.params[name] -= s.velocity[name]
        return loss


class MomentumFromZero(NumpyMomentum):
    """The buffer made as zeros before the first step, then momentum * buffer + g at every step."""
    name, summary = "correct-momentum-from-zero", "momentum whose buffer starts at zero"

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        for name, grad in grads.items():
            buffer = s.velocity.setdefault(name, np.zeros_like(grad))
            buffer *= self.momentum
            buffer += grad
            s.params[name] -= s.lr * buffer
        return loss


def momentum_chain(lr):
    return optax.chain(optax.trace(decay=0.9), optax.scale(-lr))


class OptaxMomentumChain(JaxOptax):
    name, summary = "correct-optax-momentum-chain", "optax.chain(trace(decay=0.9), scale(-lr))"
    optimizer = "sgd-momentum"
    make_optimizer = staticmethod(momentum_chain)


CORRECT_OPTIMIZERS = [AdamEfficientForm, AdamIncrements, OptaxAdamChain, MomentumLrInBuffer, MomentumFromZero,
                      OptaxMomentumChain]
