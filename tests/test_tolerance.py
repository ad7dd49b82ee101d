"""The tolerance model is neither too tight nor too loose.

Too tight would fail correct code that sums in a less accurate order; too loose would pass code
that computes in a lower precision than it was asked for. Both are shown on implementations
written for the purpose.
"""

import numpy as np
import pytest

import impls
import impls.numpy_manual as numpy_manual
from impls.numpy_manual import NumpyManual
from reference.checks.measure import compare_calls, matmul_precision_probe
from reference.checks.power import rejected
from reference.harness.session import Session
from reference.model.points import inputs_at
from reference.problem.cases import POINTS, SHAPES
from tests.correct.variants import VARIANTS


def sequential_matmul(a, b):
    """a @ b accumulated one term at a time, in a's dtype: the least accurate order a correct code uses.

    Every entry's sum runs over k in order, each product rounded and then added; the loop over k
    is vectorized over all entries at once.
    """
    total = np.zeros((a.shape[0], b.shape[1]), dtype=a.dtype)
    for k in range(a.shape[1]):
        total += np.multiply.outer(a[:, k], b[k])
    return total


class OwnProducts(NumpyManual):
    """numpy-manual's network with every matrix product computed by ``matmul``."""

    def __init__(self, name, matmul):
        self.name, self.matmul = name, matmul

    def loss(self, s):
        return self.loss_and_grads(s)[0]

    def loss_and_grads(self, s):
        mm, x, y, w1, w2 = self.matmul, s.x, s.y, s.params["w1"], s.params["w2"]
        h = mm(x, w1)
        h_relu = np.maximum(h, 0)
        y_pred = mm(h_relu, w2)
        grad_y_pred = 2.0 * (y_pred - y)
        grad_h = mm(grad_y_pred, w2.T) * (h > 0)
        return np.square(y_pred - y).sum(), {"w1": mm(x.T, grad_h), "w2": mm(h_relu.T, grad_y_pred)}


def SequentialSum():
    return OwnProducts("numpy-sequential-sum", sequential_matmul)


def to_tf32(a):
    """Round float32 values to TF32's 10-bit mantissa (what tensor cores read), keeping float32 storage."""
    bits = a.astype(np.float32).view(np.uint32)
    return ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


class Float32ComputedAsFloat64(NumpyManual):
    """Asked for float64, computes in float32 and casts the results back: a silent downcast."""

    name = "numpy-float32-as-float64"

    def loss_and_grads(self, s):
        low = {k: v.astype(np.float32) for k, v in s.params.items()}
        loss, grads = numpy_manual.loss_and_grads(s.x.astype(np.float32), s.y.astype(np.float32), **low)
        return np.float64(loss), {k: g.astype(np.float64) for k, g in grads.items()}


def EmulatedTF32():
    """float32 with every product's inputs rounded to TF32, as a GPU with TF32 on computes."""
    return OwnProducts("numpy-emulated-tf32", lambda a, b: to_tf32(a) @ to_tf32(b))


def worst_ratio(impl, dtype, shape="tutorial", precision=None):
    session = Session(impl, "cpu", dtype)
    session.precision = precision or session.precision
    results = compare_calls(session, inputs_at(shape, False), calls=1).results
    return max(r.comparison.ratio for r in results if "loss_and_grads" in r.label or "grad" in r.label)


@pytest.mark.parametrize("shape", ["tutorial", "large"])
def test_sequential_summation_in_float32_passes_with_room(shape):
    assert worst_ratio(SequentialSum(), "float32", shape) < 0.1


def test_float32_work_passed_off_as_float64_fails():
    assert worst_ratio(Float32ComputedAsFloat64(), "float64") > 100


def test_tf32_products_pass_their_own_tolerance_with_room():
    assert worst_ratio(EmulatedTF32(), "float32", precision="tf32") < 0.1


def test_the_probe_catches_tf32_products():
    # The float32 tolerance cannot tell TF32 from float32; the catalogue's matmul-precision
    # check reads this exact probe instead.
    assert matmul_precision_probe(Session(EmulatedTF32(), "cpu", "float32")) == 0.0


BUILT_IN = ("numpy-manual", "torch-manual", "torch-autograd", "torch-function", "torch-nn", "jax-grad")
#: The library each way of writing needs besides numpy.
NEEDS = {"correct-hips-autograd": "autograd", "correct-mygrad": "mygrad", "correct-torch-func": "torch"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make", [*VARIANTS, *BUILT_IN], ids=lambda m: m if isinstance(m, str) else m.name)
def test_correct_code_stays_ten_times_inside_the_tolerance_everywhere(make, dtype):
    # The calibration's margin (reference/model/tolerance.py, GRAD_SPREADS): every shape, bias
    # and point, both calls, on correct code written every way the project knows.
    if isinstance(make, str):
        pytest.importorskip(make.partition("-")[0])
        impl = impls.load(make)
    else:
        impl = make()
        pytest.importorskip(NEEDS.get(impl.name, "numpy"))
    worst = max(r.comparison.ratio for shape in SHAPES for bias in (False, True) for point in POINTS
                for r in compare_calls(Session(impl, "cpu", dtype), inputs_at(shape, bias, point)).results)
    assert worst <= 0.1, f"{impl.name} {dtype}: worst error/tolerance {worst:.3g}"


@pytest.mark.parametrize("quantity", ["w1", "w2"])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_dense_relative_error_of_1e_4_in_the_weight_gradients_fails_float32_at_every_shape(shape, quantity):
    inputs = inputs_at(shape, False)
    assert rejected(inputs, quantity, "dense", 1e-4, "float32")
    assert not rejected(inputs, quantity, "dense", 1e-7, "float32")  # float32's own rounding passes
