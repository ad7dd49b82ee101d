"""The float64 optimizers (reference/model/optimizers.py) against torch.optim's own, in float64.

Measured over 40 steps: the reference stays within 7e-14 (relative, any entry) of torch's
trajectory; each slip the diagnosis names (reference/checks/slips.py) leaves it by
1.5e-3 (betas swapped) to 190 (momentum buffer restarted every step). The bounds, 1e-10 and
1e-6, sit between.
"""

from dataclasses import replace

import numpy as np
import pytest

from reference.checks.slips import SLIPS
from reference.model import network
from reference.model.margin import make_inputs
from reference.model.optimizers import initial_state, train
from reference.problem.inputs import Problem
from reference.problem.optimizers import TRAINING_OPTIMIZERS, Optimizer

STEPS = 40
INPUTS = make_inputs(Problem(N=8, D_in=12, H=6, D_out=3, bias=True))


def torch_trajectory(optimizer: Optimizer, steps: int = STEPS) -> list[dict[str, np.ndarray]]:
    """The same network trained by torch.optim in float64: the parameters before each step and after the last."""
    torch = pytest.importorskip("torch")
    x, y = torch.from_numpy(INPUTS.x), torch.from_numpy(INPUTS.y)
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in INPUTS.params.items()}
    if optimizer.kind == "adam":
        opt = torch.optim.Adam(params.values(), lr=optimizer.lr, betas=optimizer.betas, eps=optimizer.eps)
    else:
        opt = torch.optim.SGD(params.values(), lr=optimizer.lr, momentum=optimizer.momentum)
    trajectory = [{k: v.detach().numpy().copy() for k, v in params.items()}]
    for _ in range(steps):
        h_relu = (x @ params["w1"] + params["b1"]).clamp(min=0)
        loss = ((h_relu @ params["w2"] + params["b2"] - y) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        trajectory.append({k: v.detach().numpy().copy() for k, v in params.items()})
    return trajectory


def largest_relative_gap(path_a, path_b) -> float:
    return max(float(np.max(np.abs(a[k] - b[k]) / (np.abs(b[k]) + 1e-12))) for a, b in zip(path_a, path_b) for k in b)


@pytest.mark.parametrize("name", sorted(TRAINING_OPTIMIZERS))
def test_reference_follows_torch_optim_in_float64(name):
    _, path = train(INPUTS, TRAINING_OPTIMIZERS[name], STEPS)
    assert largest_relative_gap(path, torch_trajectory(TRAINING_OPTIMIZERS[name])) < 1e-10


#: The slips the diagnosis names (reference/checks/slips.py), but eps inside the root, which needs small gradients.
WRONG = [(kind, slip) for kind, slips in SLIPS.items() for slip in slips if slip.code != "adam-eps-inside"]
EPS_INSIDE = next(slip for slip in SLIPS["adam"] if slip.code == "adam-eps-inside")


def trajectory_with(rule, optimizer):
    params, state, path = dict(INPUTS.params), initial_state(optimizer, INPUTS.params), [dict(INPUTS.params)]
    for t in range(1, STEPS + 1):
        _, grads = network.loss_and_grads(INPUTS.x, INPUTS.y, params)
        params, state = rule(optimizer, params, grads, state, t)
        path.append(params)
    return path


@pytest.mark.parametrize("name,slip", WRONG, ids=[slip.code for _, slip in WRONG])
def test_each_known_slip_leaves_torch_optim(name, slip):
    optimizer = TRAINING_OPTIMIZERS[name]
    assert largest_relative_gap(trajectory_with(slip.rule, optimizer), torch_trajectory(optimizer)) > 1e-6


def test_eps_inside_the_root_shows_where_gradients_are_small():
    # eps inside the root moves an update by about eps / (2 v_hat): with torch's eps = 1e-8 and these
    # gradients (|g| ~ 100) that is 1e-10 of the parameters, too little to see in 40 steps; a larger
    # eps shows the slip (1e-4 here), as gradients near 1e-4 would with the default.
    optimizer = replace(TRAINING_OPTIMIZERS["adam"], eps=1e-2)
    assert largest_relative_gap(trajectory_with(EPS_INSIDE.rule, optimizer), torch_trajectory(optimizer)) > 1e-6


@pytest.mark.parametrize("field,value,message", [("kind", "rmsprop", "kind must be one of"), ("lr", 0.0, "lr must be"),
                                                 ("momentum", 1.0, "momentum must lie"),
                                                 ("betas", (0.9, 1.5), "betas must be"), ("eps", -1.0, "eps must be")])
def test_bad_optimizer_is_a_one_line_error(field, value, message):
    with pytest.raises(ValueError, match=message):
        replace(TRAINING_OPTIMIZERS["adam"], **{field: value})
