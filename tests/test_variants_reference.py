"""The float64 references for the tutorials' other ways: the dynamic network and mini-batch training.

Each is held to torch in float64 (autograd through the tutorial's DynamicNet; a DataLoader
over the same batches with torch.optim.SGD), the dynamic network also to finite differences,
and each known slip is shown to leave that agreement.
"""

import numpy as np
import pytest

from reference.model import dynamic, minibatch
from reference.model.margin import make_inputs
from reference.problem.inputs import Problem
from reference.problem.optimizers import Optimizer
from reference.problem.variants import DYNAMIC_NAMES, MAX_MIDDLE_REPEATS, Batching, middle_repeats

N, D_IN, H, D_OUT = 10, 7, 5, 3
RNG = np.random.default_rng(7)
X, Y = RNG.standard_normal((N, D_IN)), RNG.standard_normal((N, D_OUT))
PARAMS = dynamic.initial_params(D_IN, H, D_OUT, seed=1)


def torch_dynamic_grads(repeats: int):
    """The tutorial's DynamicNet forward with the depth given, in float64, differentiated by autograd."""
    torch = pytest.importorskip("torch")
    p = {k: torch.tensor(v, requires_grad=True) for k, v in PARAMS.items()}
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    h_relu = (x.mm(p["w_in"]) + p["b_in"]).clamp(min=0)
    for _ in range(repeats):
        h_relu = (h_relu.mm(p["w_mid"]) + p["b_mid"]).clamp(min=0)
    loss = ((h_relu.mm(p["w_out"]) + p["b_out"] - y) ** 2).sum()
    loss.backward()
    # With no repeat the middle layer is never used: autograd leaves its gradient unset, i.e. zero.
    return float(loss.detach()), {k: np.zeros_like(PARAMS[k]) if v.grad is None else v.grad.numpy()
                                  for k, v in p.items()}


@pytest.mark.parametrize("repeats", range(MAX_MIDDLE_REPEATS + 1))
def test_dynamic_network_matches_autograd_through_the_tutorials_module(repeats):
    loss, grads = dynamic.loss_and_grads(X, Y, PARAMS, repeats)
    torch_loss, torch_grads = torch_dynamic_grads(repeats)
    assert loss == pytest.approx(torch_loss, rel=1e-13)
    for name in DYNAMIC_NAMES:
        np.testing.assert_allclose(grads[name], torch_grads[name], rtol=1e-11, atol=1e-13, err_msg=name)


def test_dynamic_network_matches_central_differences():
    _, grads = dynamic.loss_and_grads(X, Y, PARAMS, 3)
    eps = 1e-6
    for name in DYNAMIC_NAMES:
        flat = PARAMS[name].reshape(-1)
        for i in range(0, flat.size, max(1, flat.size // 7)):
            up = {k: v.copy() for k, v in PARAMS.items()}
            down = {k: v.copy() for k, v in PARAMS.items()}
            up[name].reshape(-1)[i] += eps
            down[name].reshape(-1)[i] -= eps
            numeric = (dynamic.loss_and_grads(X, Y, up, 3)[0] - dynamic.loss_and_grads(X, Y, down, 3)[0]) / (2 * eps)
            assert grads[name].reshape(-1)[i] == pytest.approx(numeric, rel=1e-6, abs=1e-8), (name, i)


def middle_gradient_per_use(repeats: int) -> list[np.ndarray]:
    """Each use's share of the middle layer's gradient, in forward order, by the same backward pass."""
    h = X @ PARAMS["w_in"] + PARAMS["b_in"]
    pre, inputs = [], []
    for _ in range(repeats):
        inputs.append(np.maximum(h, 0))
        h = inputs[-1] @ PARAMS["w_mid"] + PARAMS["b_mid"]
        pre.append(h)
    y_pred = np.maximum(h, 0) @ PARAMS["w_out"] + PARAMS["b_out"]
    grad_h_relu = 2.0 * (y_pred - Y) @ PARAMS["w_out"].T
    shares = []
    for h_in, h_out in zip(reversed(inputs), reversed(pre)):
        grad_h = grad_h_relu * (h_out > 0)
        shares.insert(0, h_in.T @ grad_h)
        grad_h_relu = grad_h @ PARAMS["w_mid"].T
    return shares


def test_the_shared_layers_gradient_from_its_last_use_only_is_off():
    _, torch_grads = torch_dynamic_grads(3)
    shares = middle_gradient_per_use(3)
    np.testing.assert_allclose(sum(shares), torch_grads["w_mid"], rtol=1e-11, atol=1e-13)
    # The slip: the middle layer's gradient overwritten at each use instead of accumulated.
    last_use_only = shares[-1]
    assert np.max(np.abs(last_use_only - torch_grads["w_mid"])) > 1e-2 * np.max(np.abs(torch_grads["w_mid"]))


def test_middle_repeats_are_seeded_and_span_zero_to_three():
    drawn = middle_repeats(0, 500)
    assert set(drawn) == set(range(MAX_MIDDLE_REPEATS + 1))
    assert np.array_equal(drawn, middle_repeats(0, 500)) and not np.array_equal(drawn, middle_repeats(1, 500))


def test_batching_sees_every_row_once_per_epoch_with_the_remainder_kept():
    batching = Batching(batch_size=4, seed=3)
    first, second = batching.epoch(10, 0), batching.epoch(10, 1)
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(np.concatenate(first)) == list(range(10)) and sorted(np.concatenate(second)) == list(range(10))
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))
    assert [len(b) for b in batching.batches(10, 7)] == [4, 4, 2, 4, 4, 2, 4]
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        Batching(batch_size=0)


def torch_minibatch_path(inputs, batching, steps, lr, drop_last=False, mean=False):
    """torch.optim.SGD over a DataLoader that yields the Batching's batches, in float64."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset
    params = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.params.items()}
    opt = torch.optim.SGD(params.values(), lr=lr)
    batches = [b.tolist() for b in batching.batches(len(inputs.x), steps)]
    if drop_last:
        batches = [b for b in batches if len(b) == batching.batch_size]
    loader = DataLoader(TensorDataset(torch.from_numpy(inputs.x), torch.from_numpy(inputs.y)), batch_sampler=batches)
    path = [{k: v.detach().numpy().copy() for k, v in params.items()}]
    for x, y in loader:
        y_pred = (x @ params["w1"]).clamp(min=0) @ params["w2"]
        loss = ((y_pred - y) ** 2).mean() if mean else ((y_pred - y) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        path.append({k: v.detach().numpy().copy() for k, v in params.items()})
    return path


def gap(path_a, path_b) -> float:
    return max(float(np.max(np.abs(a[k] - b[k]))) for a, b in zip(path_a, path_b) for k in b)


def test_minibatch_reference_follows_a_dataloader_and_the_slips_do_not():
    inputs = make_inputs(Problem(N=10, D_in=7, H=5, D_out=3))
    batching, steps, lr = Batching(batch_size=4, seed=3), 9, 1e-3
    _, path = minibatch.train(inputs, Optimizer("sgd", lr), batching, steps)
    assert gap(path, torch_minibatch_path(inputs, batching, steps, lr)) < 1e-12
    assert gap(path, torch_minibatch_path(inputs, batching, steps, lr, drop_last=True)) > 1e-4
    assert gap(path, torch_minibatch_path(inputs, batching, steps, lr, mean=True)) > 1e-4
