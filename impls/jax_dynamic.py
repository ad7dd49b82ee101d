"""jax, the DynamicNet tutorial: a Python loop under ``jax.jit``, so one compiled step per depth.

``jax.jit`` traces Python control flow away: the loop over the middle layer is unrolled into the
graph, and a different count is a different graph. The count is therefore a static argument, and
the four depths (0 to 3) compile four steps, each once; after that a step at any depth is one
compiled call. (``lax.switch`` over the four depths would compile one step holding all four
branches; ``lax.fori_loop`` with a traced count cannot be differentiated in reverse.) Autograd
through the unrolled loop sums the shared layer's gradient over its uses. Trained with
``optax.sgd(momentum=0.9)``, its trace threaded through the step as in jax-momentum. The counts
come from the sequence ``prepare`` is handed (step t uses ``depths[t]``).
"""

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import optax

from impls.contract import Implementation


def loss_fn(params, x, y, repeats):
    h_relu = jnp.maximum(x @ params["w_in"] + params["b_in"], 0)            # (N, H)
    for _ in range(repeats):                                                 # unrolled when traced
        h_relu = jnp.maximum(h_relu @ params["w_mid"] + params["b_mid"], 0)  # (N, H)
    y_pred = h_relu @ params["w_out"] + params["b_out"]                      # (N, D_out)
    return jnp.sum((y_pred - y) ** 2)


loss_and_grads = jax.jit(jax.value_and_grad(loss_fn), static_argnums=3)


@partial(jax.jit, static_argnames="repeats")
def step(params, trace, x, y, lr, repeats):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y, repeats)
    updates, trace = optax.sgd(lr, momentum=0.9).update(grads, trace)   # the step and the next trace
    return loss, optax.apply_updates(params, updates), trace


@dataclass
class State:
    x: jax.Array
    y: jax.Array
    params: dict
    lr: float
    trace: optax.OptState   # momentum's trace
    depths: object
    t: int = 0              # steps taken: the next forward pass uses depths[t]


class JaxDynamic(Implementation):
    name = "jax-dynamic"
    backend = "jax"
    summary = "the DynamicNet tutorial in jax: the loop unrolled under jit, one compiled step per depth"
    relu_grad_at_zero = 0.5   # jnp.maximum splits the gradient at a tie
    optimizer = "sgd-momentum"
    model = "dynamic"

    def prepare(self, x, y, params, lr, depths):
        params = dict(params)
        return State(x, y, params, lr, optax.sgd(lr, momentum=0.9).init(params), depths)

    def repeats(self, s):
        return int(s.depths[s.t % len(s.depths)])

    def loss(self, s):
        return loss_and_grads(s.params, s.x, s.y, self.repeats(s))[0]

    def loss_and_grads(self, s):
        return loss_and_grads(s.params, s.x, s.y, self.repeats(s))

    def step(self, s):
        loss, s.params, s.trace = step(s.params, s.trace, s.x, s.y, s.lr, self.repeats(s))
        s.t += 1
        return loss

    def parameters(self, s):
        return s.params
