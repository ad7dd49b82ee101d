"""One adapter per framework: availability, devices, conversion to and from numpy, sync, scope.

Implementations never convert or synchronize themselves; the harness does it through these
adapters (as einops does with its backends), so each file in impls/ holds only the network.
Frameworks are imported on first use, so the suite runs with numpy alone.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from functools import cache
from typing import Any, Callable, ContextManager

import numpy as np

DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "float64")
#: How float32 matrix products are computed: "strict" keeps full float32 (TF32 off in torch,
#: matmul precision "highest" in jax); "tf32" lets CUDA tensor cores round their inputs to
#: TF32's 10-bit mantissa. Only float32 on CUDA has a tf32 mode.
MODES = ("strict", "tf32")


def mode_applies(device: str, dtype: str, mode: str) -> bool:
    """tf32 is a way of computing float32 products on CUDA tensor cores; strict applies everywhere."""
    return mode == "strict" or (dtype == "float32" and device == "cuda")


def cuda_hidden() -> str | None:
    """Why no framework can see a CUDA device here, known without importing one (seconds each); None: one may."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return "CUDA_VISIBLE_DEVICES hides every CUDA device"
    # On Linux a GPU driver shows itself: NVIDIA's in /proc/driver/nvidia and /dev/nvidia*, WSL's as /dev/dxg,
    # ROCm's (torch calls its devices cuda) as /dev/kfd, Jetson's as /dev/nvhost-* and /dev/nvgpu. Elsewhere only
    # the frameworks can say.
    drivers = ("/proc/driver/nvidia", "/dev/dxg", "/dev/kfd", "/dev/nvhost-ctrl", "/dev/nvgpu")
    if sys.platform.startswith("linux") and not (any(map(os.path.exists, drivers)) or glob.glob("/dev/nvidia[0-9]*")):
        return "no GPU driver here"
    return None


class Backend:
    """A framework seen from the harness. Subclasses fill in the framework-specific parts."""

    name: str
    module: str

    def missing_reason(self, here: bool = True) -> str | None:
        """None when the framework imports, else why not (for a skip). ``here=False``: only whether it is
        installed, found without importing it, for a process that runs it elsewhere (the drivers' own, whose
        implementations run in a child that reports a failed import): that spares it seconds of torch and jax."""
        try:
            if here:
                importlib.import_module(self.module)
            elif importlib.util.find_spec(self.module) is None:
                return f"{self.module} is not installed"
        except (ImportError, ValueError) as error:
            return f"{self.module} is not installed ({error})"
        return None

    @property
    def lib(self) -> Any:
        return importlib.import_module(self.module)

    def version(self) -> str:
        """The installed distribution's version, read without importing the framework."""
        try:
            return importlib.metadata.version(self.module)
        except importlib.metadata.PackageNotFoundError:  # importable from elsewhere than an installed distribution
            return self.lib.__version__

    def device_missing_reason(self, device: str) -> str | None:
        return None if device == "cpu" else f"{self.name} has no {device} device here"

    def from_numpy(self, array: np.ndarray, device: str, dtype: str) -> Any:
        raise NotImplementedError

    def is_array(self, value: Any) -> bool:
        """Whether ``value`` is this framework's own array type (what implementations must return)."""
        raise NotImplementedError

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def dtype_name(self, array: Any) -> str:
        dtype = getattr(array, "dtype", None)
        return str(dtype if dtype is not None else np.asarray(array).dtype).removeprefix("torch.")

    def sync(self, result: Any, device: str) -> Any:
        """Wait until ``result`` is computed (asynchronous devices); return it."""
        return result

    def scope(self, device: str, dtype: str, mode: str = "strict") -> ContextManager:
        """Context to run every call of a case in: the matmul precision mode, jax's x64 mode and device."""
        return contextlib.nullcontext()

    def mode_missing_reason(self, device: str, dtype: str, mode: str) -> str | None:
        return None if mode_applies(device, dtype, mode) else f"{mode} mode applies to float32 on cuda only"

    def sync_policy(self, device: str) -> str:
        """How a timed call waits for its result, as recorded in the benchmark CSV."""
        return "none (synchronous)"

    def device_seconds(self, call: Callable[[], Any], device: str, repeats: int = 50) -> float | None:
        """Median time the device spends on ``call`` (CUDA events), where the framework can tell."""
        return None

    def peak_memory_bytes(self, call: Callable[[], Any], device: str) -> int | None:
        """Peak device memory allocated while ``call`` runs, where the framework can tell."""
        return None

    def kernels_per_call(self, call: Callable[[], Any], device: str) -> int | None:
        """How many device kernels one ``call`` launches, where the framework can tell."""
        return None


class NumpyBackend(Backend):
    name = module = "numpy"

    def mode_missing_reason(self, device, dtype, mode):
        return None if mode == "strict" else "numpy has no tf32 mode"

    def from_numpy(self, array, device, dtype):
        return array.astype(dtype, copy=True)

    def is_array(self, value):
        return isinstance(value, (np.ndarray, np.generic))


class TorchBackend(Backend):
    name = module = "torch"

    def device_missing_reason(self, device):
        if device == "cuda":
            return cuda_hidden() or (None if self.lib.cuda.is_available() else "torch sees no CUDA device")
        return super().device_missing_reason(device)

    def from_numpy(self, array, device, dtype):
        torch = self.lib
        return torch.tensor(array, dtype=getattr(torch, dtype), device=device)

    def is_array(self, value):
        return isinstance(value, self.lib.Tensor)

    def to_numpy(self, array):
        return array.detach().cpu().numpy()

    def sync(self, result, device):
        if device == "cuda":
            self.lib.cuda.synchronize()
        return result

    def sync_policy(self, device):
        return "torch.cuda.synchronize" if device == "cuda" else super().sync_policy(device)

    def device_seconds(self, call, device, repeats=50):
        if device != "cuda":
            return None
        cuda = self.lib.cuda
        times = []
        for _ in range(repeats):
            start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
            start.record()
            call()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        return float(np.median(times))

    def peak_memory_bytes(self, call, device):
        if device != "cuda":
            return None
        cuda = self.lib.cuda
        cuda.synchronize()
        cuda.reset_peak_memory_stats()
        call()
        cuda.synchronize()
        return int(cuda.max_memory_allocated())

    def kernels_per_call(self, call, device):
        if device != "cuda":
            return None
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            call()
            self.lib.cuda.synchronize()
        return sum(1 for event in prof.events() if event.device_type.name == "CUDA")

    @contextlib.contextmanager
    def scope(self, device, dtype, mode="strict"):
        # torch's TF32 switches are global: set for the case, restored after it.
        matmul, cudnn = self.lib.backends.cuda.matmul, self.lib.backends.cudnn
        saved = matmul.allow_tf32, cudnn.allow_tf32
        matmul.allow_tf32 = cudnn.allow_tf32 = mode == "tf32"
        try:
            yield
        finally:
            matmul.allow_tf32, cudnn.allow_tf32 = saved


class JaxBackend(Backend):
    name = module = "jax"

    def device_missing_reason(self, device):
        if device == "cpu":
            return None
        if device == "cuda":
            return cuda_hidden() or (None if self._devices("gpu") else "jax sees no CUDA device")
        return f"jax has no {device} device here"

    @staticmethod
    @cache
    def _devices(platform: str) -> tuple:
        import jax
        try:
            return tuple(jax.devices(platform))
        except RuntimeError:
            return ()

    def _device(self, device: str):
        return self._devices("gpu" if device == "cuda" else "cpu")[0]

    def from_numpy(self, array, device, dtype):
        import jax
        with self.scope(device, dtype):
            return jax.device_put(array.astype(dtype), self._device(device))

    def is_array(self, value):
        return isinstance(value, self.lib.Array)

    def sync(self, result, device):
        import jax
        return jax.block_until_ready(result)

    def sync_policy(self, device):
        return "jax.block_until_ready"

    def scope(self, device, dtype, mode="strict"):
        # x64 is switched on for this case only, never globally, so that no other test's float32
        # arrays are silently promoted; jit caches are keyed on it, so both settings coexist.
        # jax's default matmul precision on GPUs is TF32: strict mode asks for "highest".
        import jax
        stack = contextlib.ExitStack()
        stack.enter_context(jax.enable_x64(dtype == "float64"))
        stack.enter_context(jax.default_device(self._device(device)))
        stack.enter_context(jax.default_matmul_precision("tensorfloat32" if mode == "tf32" else "highest"))
        return stack


BACKENDS: dict[str, Backend] = {b.name: b for b in (NumpyBackend(), TorchBackend(), JaxBackend())}
