"""jax with optax: jax-grad's loss, and the optimizer as a pure transformation of the gradients.

``optax.adam(lr)`` (or ``optax.sgd(lr, momentum=0.9)``) is a pair of pure functions: ``init``
makes the optimizer's state from the parameters (Adam's moments and step count, momentum's
trace), and ``update`` turns the gradients and that state into the step and the next state.
The state travels through the jitted step beside the parameters, and must be handed back in
at the next step. optax adds eps outside the square root and corrects Adam's bias as
torch.optim does; its momentum trace starts as the first gradient, as torch's buffer does.
"""

from dataclasses import dataclass
from functools import partial

import jax
import optax

from impls.jax_grad import JaxGrad, State as SGDState, loss_and_grads


def momentum(lr):
    return optax.sgd(lr, momentum=0.9)


# The optimizer's factory is a static argument (a compiled step per factory); lr stays an
# argument, so one compiled step serves every lr.
@partial(jax.jit, static_argnames="make_optimizer")
def step(params, opt_state, x, y, lr, make_optimizer):
    loss, grads = loss_and_grads(params, x, y)
    updates, opt_state = make_optimizer(lr).update(grads, opt_state)   # the step and the optimizer's next state
    params = optax.apply_updates(params, updates)                      # params + updates, leaf by leaf
    return loss, params, opt_state


@dataclass
class State(SGDState):
    opt_state: optax.OptState   # Adam's moments and step count, or momentum's trace


class JaxOptax(JaxGrad):
    """jax-grad with an optax optimizer; each subclass names its factory (lr -> optax transformation)."""

    def prepare(self, x, y, params, lr):
        params = dict(params)
        return State(x, y, params, lr, self.make_optimizer(lr).init(params))

    def step(self, s):
        loss, s.params, s.opt_state = step(s.params, s.opt_state, s.x, s.y, s.lr, self.make_optimizer)
        return loss


class JaxAdam(JaxOptax):
    name = "jax-adam"
    summary = "jax-grad's loss trained with optax.adam in a jitted step"
    optimizer = "adam"
    make_optimizer = staticmethod(optax.adam)


class JaxMomentum(JaxOptax):
    name = "jax-momentum"
    summary = "jax-grad's loss trained with optax.sgd(momentum=0.9) in a jitted step"
    optimizer = "sgd-momentum"
    make_optimizer = staticmethod(momentum)
