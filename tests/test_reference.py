"""The reference verifies itself: finite differences, a Taylor test, and torch.autograd.gradcheck."""

import numpy as np
import pytest

from reference.model import network, optimizers
from reference.model.margin import KINK_MARGIN, kink_margin_ok, make_inputs, pre_activation, with_kink_margin
from reference.problem.inputs import Problem, draw
from reference.problem.optimizers import Optimizer

SMALL = [Problem(N=3, D_in=5, H=4, D_out=2, bias=b, seed=s) for b in (False, True) for s in (0, 1)]
ids = [p.id + f"-seed{p.seed}" for p in SMALL]


@pytest.mark.parametrize("problem", SMALL, ids=ids)
def test_gradients_match_central_differences_entry_by_entry(problem):
    inputs = make_inputs(problem)
    _, grads = network.loss_and_grads(inputs.x, inputs.y, inputs.params)
    eps = 1e-6
    for name, param in inputs.params.items():
        numeric = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            shifted = {k: v.copy() for k, v in inputs.params.items()}
            shifted[name][index] += eps
            up = network.loss(inputs.x, inputs.y, shifted)
            shifted[name][index] -= 2 * eps
            down = network.loss(inputs.x, inputs.y, shifted)
            numeric[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max(),
                                   err_msg=f"d loss / d {name}")


@pytest.mark.parametrize("problem", [Problem(bias=False), Problem(N=7, D_in=30, H=20, D_out=3, bias=True)],
                         ids=["tutorial", "small-bias"])
def test_taylor_remainder_shrinks_as_eps_squared(problem):
    # |L(p + eps d) - L(p) - eps <grad, d>| = O(eps^2): halving eps quarters the remainder.
    inputs = make_inputs(problem)
    value, grads = network.loss_and_grads(inputs.x, inputs.y, inputs.params)
    rng = np.random.default_rng(1)
    direction = {k: rng.standard_normal(v.shape) for k, v in inputs.params.items()}
    slope = sum(np.sum(grads[k] * direction[k]) for k in grads)
    # eps small enough that no relu flips (the margin), large enough that the remainder beats rounding.
    epsilons = 1e-4 * 0.5 ** np.arange(4)
    remainders = []
    for eps in epsilons:
        moved = {k: v + eps * direction[k] for k, v in inputs.params.items()}
        remainders.append(abs(network.loss(inputs.x, inputs.y, moved) - value - eps * slope))
    orders = np.log2(np.array(remainders[:-1]) / np.array(remainders[1:]))
    np.testing.assert_allclose(orders, 2.0, atol=0.1, err_msg=f"remainders {remainders}")


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
def test_gradients_match_torch_gradcheck(bias):
    torch = pytest.importorskip("torch")
    inputs = make_inputs(Problem(N=4, D_in=6, H=5, D_out=3, bias=bias))
    names = tuple(inputs.params)
    x, y = (torch.tensor(a) for a in (inputs.x, inputs.y))
    tensors = [torch.tensor(inputs.params[k], requires_grad=True) for k in names]

    def torch_loss(*params):
        p = dict(zip(names, params))
        h = x @ p["w1"] + p.get("b1", 0.0)
        return ((h.clamp(min=0) @ p["w2"] + p.get("b2", 0.0) - y) ** 2).sum()

    assert torch.autograd.gradcheck(torch_loss, tensors, eps=1e-6, atol=1e-5, rtol=1e-6)
    torch_grads = torch.autograd.grad(torch_loss(*tensors), tensors)
    _, grads = network.loss_and_grads(inputs.x, inputs.y, inputs.params)
    for name, expected in zip(names, torch_grads):
        np.testing.assert_allclose(grads[name], expected.numpy(), rtol=1e-12, atol=1e-12 * np.abs(expected.numpy()).max())


def test_gradient_descent_step_moves_against_the_gradient():
    inputs = make_inputs(Problem(N=5, D_in=7, H=6, D_out=2, bias=True))
    value, grads = network.loss_and_grads(inputs.x, inputs.y, inputs.params)
    losses, (_, after) = optimizers.train(inputs, Optimizer("sgd", 1e-3), steps=1)
    assert losses[0] == value
    for name in grads:
        np.testing.assert_array_equal(after[name], inputs.params[name] - 1e-3 * grads[name])
    assert network.loss(inputs.x, inputs.y, after) < value


@pytest.mark.parametrize("problem", [Problem(), Problem(N=37, D_in=123, H=45, D_out=7, bias=True),
                                     Problem(N=64, D_in=10, H=100, D_out=10), Problem(N=1, D_in=1, H=1, D_out=1)],
                         ids=["tutorial", "odd", "wide-hidden", "scalar"])
def test_inputs_keep_the_kink_margin(problem):
    inputs = make_inputs(problem)
    h, scale = pre_activation(inputs)
    assert kink_margin_ok(inputs), f"min |h| / scale = {np.min(np.abs(h) / scale):.3g} < {KINK_MARGIN}"


def test_the_margin_push_moves_x_only_a_little():
    plain = draw(Problem())
    pushed = with_kink_margin(plain)
    assert kink_margin_ok(pushed)
    assert np.abs(pushed.x - plain.x).max() < 0.05
    assert all(pushed.params[k] is plain.params[k] for k in plain.params)


def test_plain_draws_do_violate_the_margin():
    # Without the push some |h| sits closer to 0 than the margin: the push is doing real work.
    assert not kink_margin_ok(draw(Problem()))


def test_error_scales_bound_the_values():
    inputs = make_inputs(Problem(N=9, D_in=20, H=11, D_out=4, bias=True))
    value, grads = network.loss_and_grads(inputs.x, inputs.y, inputs.params)
    scales = network.error_scales(inputs.x, inputs.y, inputs.params)
    assert value <= scales["loss"]
    for name, grad in grads.items():
        assert np.all(np.abs(grad) <= scales[name] * (1 + 1e-12)), name


@pytest.mark.parametrize("field,value", [("N", 0), ("D_in", -3), ("H", 2.5), ("D_out", True)])
def test_problem_rejects_bad_sizes(field, value):
    with pytest.raises(ValueError, match=f"Problem.{field} must be a positive integer"):
        Problem(**{field: value})
