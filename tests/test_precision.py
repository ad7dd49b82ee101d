"""Matrix products run in the precision the mode promises: an exact probe, not a tolerance.

The float32 tolerance cannot tell TF32 from float32 (tests/test_tolerance.py); this probe
can: its loss is exactly 2**-18 when products keep float32's mantissa and exactly 0 under TF32.
"""

import pytest

from impls.contract import Session
from reference.checks import PROBE_STRICT_LOSS, matmul_precision_probe
from tests.test_tolerance import EmulatedTF32


def test_strict_mode_computes_products_in_full_precision(session):
    if session.mode != "strict":
        pytest.skip("the strict probe is for strict mode")
    assert matmul_precision_probe(session) == PROBE_STRICT_LOSS, (
        f"{session.label}: probe loss {matmul_precision_probe(session)!r}, exactly {PROBE_STRICT_LOSS!r} "
        "in float32 arithmetic (0 means TF32)")


def test_tf32_mode_gives_one_of_the_two_exact_answers(session, record_property):
    if session.mode != "tf32":
        pytest.skip("this probe reading is for tf32 mode")
    loss = matmul_precision_probe(session)
    record_property("tensor_cores_used", loss == 0.0)
    assert loss in (0.0, PROBE_STRICT_LOSS), f"{session.label}: probe loss {loss!r}"


def test_the_probe_catches_tf32_products():
    assert matmul_precision_probe(Session(EmulatedTF32(), "cpu", "float32")) == 0.0
