"""The tutorials' slips with Adam and momentum, each written as a learner would make it.

``planted`` is the diagnosis code reference/checks/slips.py must name it by. The first three
are Adam's formula mistyped; the next two lose the optimizer's state between steps, the way
torch and jax each make that easy; the rest take another coefficient or form of the declared
family (betas, eps under optax's root, Nesterov, dampening, the momentum), leave a layer out of
the optimizer, or skip the first step.
"""

import numpy as np
import optax
import torch

from impls.jax_optax import JaxAdam, JaxMomentum, step as optax_step
from impls.numpy_adam import NumpyAdam
from impls.numpy_manual import loss_and_grads
from impls.torch_optim import TorchAdam, TorchMomentum


class AdamWithoutBiasCorrection(NumpyAdam):
    """m and v used as they are: zero-started averages, too small for the first hundreds of steps."""
    name, planted = "wrong-adam-no-bias-correction", "adam-bias-correction"

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        for name, grad in grads.items():
            s.m[name] = self.beta1 * s.m[name] + (1 - self.beta1) * grad
            s.v[name] = self.beta2 * s.v[name] + (1 - self.beta2) * grad**2
            s.params[name] -= s.lr * s.m[name] / (np.sqrt(s.v[name]) + self.eps)
        return loss


class AdamEpsInsideRoot(NumpyAdam):
    """sqrt(v_hat + eps): a reading of the paper's formula some libraries chose, not torch's."""
    name, planted = "wrong-adam-eps-inside", "adam-eps-inside"

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        s.t += 1
        for name, grad in grads.items():
            s.m[name] = self.beta1 * s.m[name] + (1 - self.beta1) * grad
            s.v[name] = self.beta2 * s.v[name] + (1 - self.beta2) * grad**2
            m_hat = s.m[name] / (1 - self.beta1**s.t)
            v_hat = s.v[name] / (1 - self.beta2**s.t)
            s.params[name] -= s.lr * m_hat / np.sqrt(v_hat + self.eps)
        return loss


class AdamBetasSwapped(TorchAdam):
    """betas=(0.999, 0.9): the first moment's decay given to the second."""
    name, planted = "wrong-adam-betas-swapped", "adam-betas-swapped"

    def make_optimizer(self, parameters, lr):
        return torch.optim.Adam(parameters, lr=lr, betas=(0.999, 0.9))


class MomentumOptimizerPerStep(TorchMomentum):
    """A new torch.optim.SGD(momentum=0.9) made inside every step: its buffer dies with it."""
    name, planted = "wrong-momentum-optimizer-per-step", "momentum-not-carried"

    def step(self, s):
        optimizer = torch.optim.SGD(s.model.parameters(), lr=s.optimizer.param_groups[0]["lr"], momentum=0.9)
        optimizer.zero_grad()
        loss = s.loss_fn(s.model(s.x), s.y)
        loss.backward()
        optimizer.step()
        return loss.detach()


class JaxAdamStateDropped(JaxAdam):
    """The jitted step's new optimizer state is thrown away: optax's state must be threaded by hand."""
    name, planted = "wrong-jax-adam-state-dropped", "adam-state-not-carried"

    def step(self, s):
        loss, s.params, _ = optax_step(s.params, s.opt_state, s.x, s.y, s.lr, self.make_optimizer)
        return loss


class AdamOtherBetas(TorchAdam):
    """betas=(0.8, 0.999): a first moment that forgets faster than the contract's 0.9."""
    name, planted = "wrong-adam-other-betas", "adam-betas"

    def make_optimizer(self, parameters, lr):
        return torch.optim.Adam(parameters, lr=lr, betas=(0.8, 0.999))


class OptaxAdamEpsRoot(JaxAdam):
    """optax's eps_root (added under the square root) used for eps, and eps itself set to 0."""
    name, planted = "wrong-optax-adam-eps-root", "adam-eps-inside"
    make_optimizer = staticmethod(lambda lr: optax.adam(lr, eps=0.0, eps_root=1e-8))


class NesterovMomentum(TorchMomentum):
    """SGD(momentum=0.9, nesterov=True) where the contract's plain momentum was declared."""
    name, planted = "wrong-nesterov-momentum", "nesterov"

    def make_optimizer(self, parameters, lr):
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, nesterov=True)


class MomentumWithDampening(TorchMomentum):
    """SGD(momentum=0.9, dampening=0.9): dampening read as the momentum's partner, each gradient scaled by 0.1."""
    name, planted = "wrong-momentum-dampening", "momentum-dampening"

    def make_optimizer(self, parameters, lr):
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, dampening=0.9)


class OtherMomentumCoefficient(JaxMomentum):
    """optax.sgd(momentum=0.99) where the contract's 0.9 was declared."""
    name, planted = "wrong-momentum-coefficient", "momentum-coefficient"
    make_optimizer = staticmethod(lambda lr: optax.sgd(lr, momentum=0.99))


class MomentumOnTheFirstLayer(TorchMomentum):
    """The optimizer made on model[0].parameters(): the second layer is never updated."""
    name, planted = "wrong-momentum-first-layer-only", "update-skips-parameter"

    def prepare(self, x, y, params, lr):
        s = super().prepare(x, y, params, lr)
        s.optimizer = self.make_optimizer(s.model[0].parameters(), lr)
        return s

    def loss_and_grads(self, s):
        s.model.zero_grad()   # the model's own zero_grad reaches the layer the optimizer does not hold
        return super().loss_and_grads(s)


class AdamMadeAtTheFirstStep(NumpyAdam):
    """Adam's moments made lazily at the first step(), which returns before updating: the first step moves nothing."""
    name, planted = "wrong-adam-lazy-first-step", "first-step-skipped"

    def step(self, s):
        if s.t == 0 and not hasattr(s, "ready"):
            s.ready = True
            return loss_and_grads(s.x, s.y, **s.params)[0]
        return super().step(s)


OPTIMIZER_SLIPS = [AdamWithoutBiasCorrection, AdamEpsInsideRoot, AdamBetasSwapped, MomentumOptimizerPerStep,
                   JaxAdamStateDropped, AdamOtherBetas, OptaxAdamEpsRoot, NesterovMomentum, MomentumWithDampening,
                   OtherMomentumCoefficient, MomentumOnTheFirstLayer, AdamMadeAtTheFirstStep]
