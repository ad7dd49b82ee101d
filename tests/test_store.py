"""The reference's results on disk: read back bit for bit, never read across a code change, never fatal."""

import numpy as np
import pytest

from reference.model import store


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(store.VARIABLE, str(tmp_path))
    return tmp_path


def counted(arrays):
    calls = []

    def compute():
        calls.append(1)
        return arrays
    return compute, calls


def test_a_stored_result_is_read_back_bit_for_bit_without_computing_again(cache):
    arrays = {"x": np.random.default_rng(0).standard_normal((3, 4)), "loss": np.array(1 / 3)}
    compute, calls = counted(arrays)
    first = store.kept("example", ("a", b"\x00\x01"), compute)
    second = store.kept("example", ("a", b"\x00\x01"), compute)
    assert len(calls) == 1
    assert first.keys() == second.keys() == arrays.keys()
    for name in arrays:
        assert second[name].tobytes() == arrays[name].tobytes() and second[name].dtype == arrays[name].dtype


def test_other_arguments_or_other_reference_code_never_read_an_older_result(cache, monkeypatch):
    compute, calls = counted({"x": np.zeros(2)})
    store.kept("example", ("a",), compute)
    store.kept("example", ("b",), compute)
    store.kept("other", ("a",), compute)
    monkeypatch.setattr(store, "code_version", lambda: "edited")
    store.kept("example", ("a",), compute)
    assert len(calls) == 4


def test_an_edit_to_any_module_of_the_model_or_the_problem_changes_the_code_version(tmp_path):
    import shutil

    for layer in ("model", "problem"):
        shutil.copytree(store.REFERENCE / layer, tmp_path / layer)
    before = store.code_version(tmp_path)
    assert before == store.code_version(store.REFERENCE)
    for edited in (tmp_path / "model" / "network.py", tmp_path / "problem" / "cases.py"):
        edited.write_text(edited.read_text() + "\n# edited\n")
        after = store.code_version.__wrapped__(tmp_path)
        assert after != before, edited.name
        before = after


def test_a_file_cut_short_is_computed_again_and_replaced(cache):
    compute, calls = counted({"x": np.arange(5.0)})
    store.kept("example", ("a",), compute)
    (path,) = cache.glob("example-*.npz")
    path.write_bytes(path.read_bytes()[:40])
    assert store.kept("example", ("a",), compute)["x"].tolist() == [0, 1, 2, 3, 4]
    assert len(calls) == 2
    assert store.kept("example", ("a",), compute)["x"].tolist() == [0, 1, 2, 3, 4] and len(calls) == 2


def test_off_computes_in_memory_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(store.VARIABLE, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    compute, calls = counted({"x": np.zeros(1)})
    store.kept("example", ("a",), compute)
    store.kept("example", ("a",), compute)
    assert len(calls) == 2 and not any(tmp_path.iterdir())


def test_a_folder_that_cannot_be_written_costs_time_not_the_result(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(store.VARIABLE, str(blocked / "cache"))
    compute, calls = counted({"x": np.ones(2)})
    assert store.kept("example", ("a",), compute)["x"].tolist() == [1, 1]
    assert len(calls) == 1 and blocked.read_text() == "not a folder"
    assert not list(tmp_path.glob("**/*.tmp"))


def test_the_checks_inputs_from_disk_equal_those_computed_in_memory(cache, monkeypatch):
    from reference.model import points

    points.inputs_at.cache_clear()
    stored = points.inputs_at("odd", True, 25)
    points.inputs_at.cache_clear()
    monkeypatch.setenv(store.VARIABLE, "off")
    computed = points.inputs_at("odd", True, 25)
    points.inputs_at.cache_clear()
    assert list(cache.glob("inputs-*.npz"))
    for name, array in {"x": computed.x, "y": computed.y, **computed.params}.items():
        read = {"x": stored.x, "y": stored.y, **stored.params}[name]
        assert read.tobytes() == array.tobytes(), name
