"""How far a correct float32 or float64 computation of the gradients strays from the exact values.

A statistical model of rounding (Higham & Mary, SIAM J. Sci. Comput. 41(5), 2019): every
rounding is an independent error of at most u times the value rounded, so errors add in
quadrature. A sum of n terms, rounded as it goes, strays by about sqrt(n) times the size of its
partial sums, and a partial sum is at most the final value plus the spread of a random walk over
the terms, ``|c| + ||terms||_2``. Errors carried in from the operands pass through each product
in quadrature too. ``gradient_spreads`` propagates this through the network, the inputs' own
rounding to the computing precision included, and returns every gradient entry's spread in
units of u. reference.model.tolerance multiplies it by a constant calibrated on correct code.

The worst-case model (absolute values all the way through, reference.model.network.error_scales)
compounds every cancellation in the chain and is thousands of times wider at the larger shapes;
it still bounds the loss, which is one same-sign sum.
"""

from __future__ import annotations

import numpy as np


def product(a: np.ndarray, b: np.ndarray, spread_a: np.ndarray, spread_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a @ b and the spread of its error: this product's own roundings and what a's and b's errors bring."""
    c = a @ b
    own = np.sqrt(a.shape[1]) * (np.abs(c) + np.sqrt(np.square(a) @ np.square(b)))
    carried = np.square(spread_a) @ np.square(b) + np.square(a) @ np.square(spread_b)
    return c, np.sqrt(np.square(own) + carried)


def column_sum(a: np.ndarray, spread_a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a.sum(axis=0) and its spread."""
    s = a.sum(axis=0)
    own = np.sqrt(a.shape[0]) * (np.abs(s) + np.sqrt(np.square(a).sum(axis=0)))
    return s, np.sqrt(np.square(own) + np.square(spread_a).sum(axis=0))


def rounded(value: np.ndarray, *spreads: np.ndarray) -> np.ndarray:
    """The spread of an elementwise result: its operands' spreads and its own rounding."""
    return np.sqrt(sum(np.square(s) for s in spreads) + np.square(value))


def gradient_spreads(x: np.ndarray, y: np.ndarray, params) -> dict[str, np.ndarray]:
    """Each gradient entry's error spread in units of u (multiply by u for the precision computed in)."""
    w1, w2 = params["w1"], params["w2"]
    sw1, sw2 = np.abs(w1), np.abs(w2)  # rounding the inputs to the computing precision
    h, sh = product(x, w1, np.abs(x), sw1)
    if "b1" in params:
        h = h + params["b1"]
        sh = rounded(h, sh, np.abs(params["b1"]))
    mask = h > 0
    h_relu, sh_relu = h * mask, sh * mask
    y_pred, sy_pred = product(h_relu, w2, sh_relu, sw2)
    if "b2" in params:
        y_pred = y_pred + params["b2"]
        sy_pred = rounded(y_pred, sy_pred, np.abs(params["b2"]))
    grad_y_pred = 2.0 * (y_pred - y)
    sgrad_y_pred = 2.0 * rounded(y_pred - y, sy_pred, np.abs(y))
    grad_w2, sgrad_w2 = product(h_relu.T, grad_y_pred, sh_relu.T, sgrad_y_pred)
    grad_h, sgrad_h = product(grad_y_pred, w2.T, sgrad_y_pred, sw2.T)
    grad_h, sgrad_h = grad_h * mask, sgrad_h * mask
    _, sgrad_w1 = product(x.T, grad_h, np.abs(x).T, sgrad_h)
    spreads = {"w1": sgrad_w1, "w2": sgrad_w2}
    if "b1" in params:
        spreads |= {"b1": column_sum(grad_h, sgrad_h)[1], "b2": column_sum(grad_y_pred, sgrad_y_pred)[1]}
    return spreads
