"""Say in words what is probably wrong when an implementation disagrees with the reference.

A failing quantity is tested against hypotheses, each a way the reference itself would be
wrong (a scale factor, the opposite sign, a transposed result, the ReLU mask left out, dW2
from h, a lower precision, ...): the first hypothesis the result matches within the usual
tolerance names the diagnosis. Comparisons across calls, points and parameters add the
diagnoses no single result can show (accumulation, a result that ignores the parameters,
one parameter right and another wrong). Every diagnosis has a stable ``code`` for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import numpy as np

from reference.model import network
from reference.model.tolerance import UNIT_ROUNDOFF, compare
from reference.problem.inputs import Inputs


@dataclass(frozen=True)
class Diagnosis:
    code: str
    text: str


def _scale_factors(problem) -> dict[str, tuple[float, str]]:
    """Constant factors a wrong result can be off by, with what each usually means."""
    N, D_out = problem.N, problem.D_out
    factors = {
        "scale:1/(N*D_out)": (1 / (N * D_out), f"1/(N*D_out) = 1/{N * D_out}: a mean over all elements "
                              "instead of a sum (MSELoss's default reduction)"),
        "scale:1/N": (1 / N, f"1/N = 1/{N}: a mean over the batch instead of a sum"),
        "scale:1/D_out": (1 / D_out, f"1/D_out = 1/{D_out}: a mean over the outputs instead of a sum"),
        "scale:1/2": (0.5, "1/2: the factor 2 from the derivative of the square is missing (or a 1/2 added)"),
        "scale:2": (2.0, "2: counted twice (the factor 2 applied twice, or two passes added up)"),
        "sign": (-1.0, "-1: the opposite sign (y - y_pred where y_pred - y belongs)"),
    }
    # With N = 1 or D_out = 1 some factors coincide; the first listed (most specific) is kept.
    seen, unique = set(), {}
    for code, (value, text) in factors.items():
        if value not in seen and value != 1.0:
            seen.add(value)
            unique[code] = (value, text)
    return unique


@lru_cache(maxsize=16)
def _mutants(inputs: Inputs) -> dict[str, tuple[str, float, dict[str, np.ndarray]]]:
    """Reference variants with one known mistake each: code -> (explanation, loss, grads).

    Computed once per inputs: every failing quantity of every failing check is tested against them.
    """
    x, y, p = inputs.x, inputs.y, dict(inputs.params)
    problem = inputs.problem
    (D_in, H), D_out = p["w1"].shape, p["w2"].shape[1]

    def backward(grad_h_from: str = "mask", w2_from: str = "h_relu", bias_axis: int = 0):
        h, h_relu, y_pred = network.forward(x, p)
        grad_y_pred = 2.0 * (y_pred - y)
        grad_h_relu = grad_y_pred @ p["w2"].T
        mask = {"mask": h > 0, "none": 1.0, "inverted": h < 0}[grad_h_from]
        grad_h = grad_h_relu * mask
        grads = {"w1": x.T @ grad_h, "w2": (h if w2_from == "h" else h_relu).T @ grad_y_pred}
        if "b1" in p:
            grads |= {"b1": grad_h.sum(axis=bias_axis), "b2": grad_y_pred.sum(axis=bias_axis)}
        return float(np.sum((y_pred - y) ** 2)), grads

    def reshaped():
        # nn.Linear weights filled by reshape: the (out, in) tensor holds w.reshape(out, in).
        bad = {**p, "w1": p["w1"].reshape(H, D_in).T, "w2": p["w2"].reshape(D_out, H).T}
        return network.loss_and_grads(x, y, bad)

    mutants = {
        "relu-mask-missing": ("the ReLU mask is missing in the backward pass (grad_h = grad_h_relu)",
                              lambda: backward(grad_h_from="none")),
        "relu-mask-wrong": ("the ReLU mask is inverted (the gradient passes where h < 0)",
                            lambda: backward(grad_h_from="inverted")),
        "w2-from-h": ("dW2 uses the pre-activation h where h_relu belongs", lambda: backward(w2_from="h")),
        "reshape-not-transpose": ("weights put into (out, in) storage by reshape instead of transpose",
                                  reshaped),
    }
    if "b1" in p and problem.N in (H, D_out):
        mutants["bias-axis"] = ("a bias gradient summed over the wrong axis (features instead of the batch)",
                                lambda: backward(bias_axis=1))
    return {code: (text, *mutant()) for code, (text, mutant) in mutants.items()}


def diagnose(quantity: str, got, inputs: Inputs, precision: str) -> Diagnosis:
    """The most likely reason ``got`` (the loss or one gradient) disagrees with the reference."""
    problem = inputs.problem
    ref_loss, ref_grads, scales = network.reference_at(inputs)
    expected = np.asarray(ref_loss if quantity == "loss" else ref_grads[quantity], dtype=np.float64)
    scale = scales[quantity]
    got = np.asarray(got, dtype=np.float64)

    def matches(candidate, candidate_scale=scale, p=precision) -> bool:
        return compare(quantity, got, candidate, candidate_scale, problem, p).passed

    if not np.all(np.isfinite(got)):
        return Diagnosis("nan", f"{quantity}: NaN or inf")
    if got.shape != expected.shape:
        if got.shape == expected.shape[::-1]:
            return Diagnosis("transposed", f"{quantity} has the transposed shape {got.shape}, expected "
                             f"{expected.shape}: (out, in) layout returned where (in, out) belongs")
        return Diagnosis("shape", f"{quantity} has shape {got.shape}, expected {expected.shape}")
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1] and matches(expected.T, np.asarray(scale).T):
        return Diagnosis("transposed", f"{quantity}: the transpose of the right answer, a layout mix-up "
                         "that a square shape hides")
    for code, (text, value, grads) in _mutants(inputs).items():
        candidate = value if quantity == "loss" else grads.get(quantity)
        if candidate is not None and np.shape(candidate) == got.shape and not np.allclose(candidate, expected) \
                and matches(candidate):
            return Diagnosis(code, text)
    norm = float(np.sum(expected * expected))
    if norm > 0:
        factor = float(np.sum(got * expected) / norm)
        for code, (value, text) in _scale_factors(problem).items():
            if abs(factor / value - 1) < 1e-3 and matches(value * expected, abs(value) * np.asarray(scale)):
                return Diagnosis(code, f"{quantity}: off by a constant factor {text}")
        if abs(factor) > 1e-12 and abs(factor - 1) > 1e-3 and matches(factor * expected, abs(factor) * np.asarray(scale)):
            return Diagnosis("scale:other", f"{quantity}: off by a constant factor {factor:.6g}")
        if matches(np.zeros_like(expected)) or not np.any(got):
            return Diagnosis("zero", f"{quantity}: all zeros")
    for lower in ("float32", "tf32", "bfloat16"):
        if UNIT_ROUNDOFF[lower] > UNIT_ROUNDOFF.get(precision, 0) and matches(expected, p=lower):
            return Diagnosis("precision", f"{quantity}: {lower}-level rounding error where {precision} "
                             "was asked for: computed in a lower precision and cast back")
    return Diagnosis("unknown", f"{quantity} disagrees in no pattern the suite knows")


def _agrees(quantity: str, got, expected, inputs: Inputs, precision: str, factor: float = 1.0) -> bool:
    """Whether ``got`` equals ``factor * expected`` within the tolerance at ``inputs``."""
    scale = network.reference_at(inputs)[2][quantity]
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return got.shape == expected.shape and compare(quantity, got, factor * expected, factor * np.asarray(scale),
                                                   inputs.problem, precision).passed


def diagnose_calls(quantity: str, first, second, inputs: Inputs, precision: str) -> Diagnosis:
    """A second call on the same state that differs from a right first call."""
    if _agrees(quantity, second, first, inputs, precision, factor=2.0):
        return Diagnosis("accumulates", f"the second call's {quantity} is twice the first: gradients accumulate "
                         "across calls (never zeroed)")
    return Diagnosis("call-dependent", f"the second call's {quantity} differs from the first: the call changes state")


def diagnose_points(quantity: str, at_start, at_later, later: Inputs, precision: str) -> Diagnosis | None:
    """A result at a later parameter point that equals the result at the start."""
    if _agrees(quantity, at_later, at_start, later, precision):
        return Diagnosis("unchanged", f"{quantity} does not change when the parameters change: computed from "
                         "stale or cached parameters")
    return None


def diagnose_training(losses: np.ndarray, reference_losses: np.ndarray, start: Mapping[str, np.ndarray],
                      after_one: Mapping[str, np.ndarray], ref_grads: Mapping[str, np.ndarray], grads_agree: bool,
                      lr: float) -> Diagnosis:
    """Why a training run leaves the reference's path.

    The first step is read against the reference gradient: moving by -lr_eff * g says the
    path is the reference's at learning rate lr_eff, whether the lr or the gradient is off.
    """
    names = sorted(start)
    moved = np.concatenate([np.ravel(np.asarray(after_one[k], np.float64) - np.asarray(start[k], np.float64))
                            for k in names])
    if not np.any(moved):
        return Diagnosis("update-missing", f"the parameters do not change and the loss stays at {losses[0]:.6g}: "
                         "the update never reaches them (a rebinding `w = w - lr * g`, or a zeroed gradient)")
    grad = np.concatenate([np.ravel(ref_grads[k]) for k in names]).astype(np.float64)
    effective_lr = float(-(moved @ grad) / (grad @ grad))
    along_gradient = np.linalg.norm(moved + effective_lr * grad) <= 1e-3 * np.linalg.norm(moved)
    cause = ("the gradients it uses are off by that factor (see the agreement rows)" if not grads_agree
             else "the update uses another learning rate than the one asked for")
    if along_gradient and effective_lr < 0:
        return Diagnosis("wrong-direction", f"the first step goes up the gradient (effective lr {effective_lr:.3g}): "
                         + ("`w += lr * g` where `w -= lr * g` belongs" if grads_agree else
                            "the gradients it uses have the wrong sign (see the agreement rows)"))
    if along_gradient and abs(effective_lr / lr - 1) > 1e-2:
        return Diagnosis("lr-mismatch", f"the trajectory matches lr = {effective_lr:.3g} ({effective_lr / lr:.4g} x "
                         f"the {lr:.3g} asked for): {cause}")
    if not grads_agree:
        return Diagnosis("gradients-wrong", "training follows the implementation's own gradients, which disagree "
                         "with the reference (see the agreement rows)")
    if not np.all(np.isfinite(losses)):
        return Diagnosis("diverging", f"the loss becomes NaN or inf at step {int(np.argmin(np.isfinite(losses)))}")
    if losses[-1] > losses[0]:
        return Diagnosis("diverging", f"the loss grows from {losses[0]:.4g} to {losses[-1]:.4g}")
    departs = int(np.argmax(~np.isclose(losses, reference_losses, rtol=1e-3)))
    return Diagnosis("trajectory", f"step() does not use the gradients loss_and_grads() returns (the curve "
                     f"leaves the reference at step {departs}): stale parameters or a different loss in step()")


#: A first step that follows the declared rule, from a wrong gradient: both first-step checks name it so.
STEP_GRADIENT = Diagnosis("step-gradient", (
    "step() applies the declared rule to the gradient loss_and_grads() returns, and that gradient is off the "
    "reference's (the agreement checks say how)"))
