"""A description of the machine and software a benchmark run measured, for machine.json."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from typing import Any

from impls.backends import BACKENDS, DEVICES
from impls.threads import thread_settings


def _run(*command: str) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo.read()).group(1))
        return round(kib / 2**20, 1)
    except (OSError, AttributeError):
        return None


def _cpu_model() -> str:
    try:
        import cpuinfo  # installed with pytest-benchmark
        return cpuinfo.get_cpu_info().get("brand_raw", "") or platform.processor()
    except ImportError:
        return platform.processor()


def _frameworks() -> dict[str, Any]:
    info: dict[str, Any] = {}
    import numpy as np
    blas = np.show_config(mode="dicts")["Build Dependencies"].get("blas", {})
    info["numpy"] = {"version": np.__version__, "blas": f"{blas.get('name')} {blas.get('version')}"}
    if BACKENDS["torch"].missing_reason() is None:
        import torch
        build = torch.__config__.show()
        blas_info = re.search(r"BLAS_INFO=(\w+)", build)
        info["torch"] = {
            "version": torch.__version__, "blas": blas_info.group(1) if blas_info else "unknown",
            "threads": torch.get_num_threads(), "cuda": torch.version.cuda,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        }
        if torch.cuda.is_available():
            info["torch"]["gpu"] = torch.cuda.get_device_name(0)
    if BACKENDS["jax"].missing_reason() is None:
        import jax
        info["jax"] = {"version": jax.__version__, "backend": jax.default_backend(),
                       "devices": [str(d) for d in jax.devices()],
                       "default_matmul_precision": jax.config.jax_default_matmul_precision}
    return info


def _gpu() -> dict[str, str] | None:
    if not shutil.which("nvidia-smi"):
        return None
    fields = "name,driver_version,memory.total"
    line = _run("nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader").splitlines()
    return dict(zip(fields.split(","), (v.strip() for v in line[0].split(",")))) if line else None


def _git() -> dict[str, Any]:
    commit = _run("git", "rev-parse", "HEAD")
    return {"commit": commit, "dirty": bool(_run("git", "status", "--porcelain", "--untracked-files=no"))}


def collect(command: str) -> dict[str, Any]:
    """Everything a reader needs to judge or reproduce the figures of a run."""
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(),
        "machine": platform.machine(), "os": platform.platform(),
        "gpu": _gpu(), "python": sys.version.split()[0],
        "frameworks": _frameworks(),
        "devices": {b.name: [d for d in DEVICES if b.missing_reason() is None and b.device_missing_reason(d) is None]
                    for b in BACKENDS.values()},
        "threads": thread_settings(), "git": _git(), "command": command,
    }


if __name__ == "__main__":
    json.dump(collect(" ".join(sys.argv[1:])), sys.stdout, indent=2)
