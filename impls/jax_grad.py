"""jax: write the loss as a pure function of the parameters; ``jax.grad`` returns its gradient.

No state is mutated: a step returns new parameters. ``jax.jit`` traces the function once per
shape and dtype and compiles it with XLA; ``jax-grad-eager`` runs the same code op by op, to
show what compilation buys. jax uses float32 unless x64 mode is on; the harness turns it on
for float64 cases only.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from impls.contract import Implementation


def loss_fn(params, x, y):
    h = x @ params["w1"]                     # (N, H)
    if "b1" in params:
        h = h + params["b1"]
    h_relu = jnp.maximum(h, 0)               # (N, H)
    y_pred = h_relu @ params["w2"]           # (N, D_out)
    if "b2" in params:
        y_pred = y_pred + params["b2"]
    return jnp.sum((y_pred - y) ** 2)


loss_and_grads = jax.value_and_grad(loss_fn)


def step(params, x, y, lr):
    loss, grads = loss_and_grads(params, x, y)
    new_params = jax.tree.map(lambda p, g: p - lr * g, params, grads)
    return loss, new_params


@dataclass
class State:
    x: jax.Array
    y: jax.Array
    params: dict
    lr: float


class JaxGrad(Implementation):
    name = "jax-grad"
    backend = "jax"
    summary = "jax.value_and_grad of a pure loss function, compiled with jax.jit"
    devices = ("cpu", "cuda")
    relu_grad_at_zero = 0.5  # jnp.maximum splits the gradient evenly between equal arguments
    compile = staticmethod(jax.jit)

    def __init__(self):
        self._loss = self.compile(loss_fn)
        self._loss_and_grads = self.compile(loss_and_grads)
        self._step = self.compile(step)

    def prepare(self, x, y, params, lr):
        return State(x, y, dict(params), lr)

    def loss(self, s):
        return self._loss(s.params, s.x, s.y)

    def loss_and_grads(self, s):
        return self._loss_and_grads(s.params, s.x, s.y)

    def step(self, s):
        loss, s.params = self._step(s.params, s.x, s.y, s.lr)
        return loss

    def parameters(self, s):
        return s.params


class JaxGradEager(JaxGrad):
    name = "jax-grad-eager"
    summary = "the same jax code without jax.jit: every operation dispatched one at a time"
    compile = staticmethod(lambda f: f)
    eager_by_design = True
