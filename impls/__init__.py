"""The registry: every implementation users see, by name.

Modules are imported only when asked for, so listing names needs no framework, and a missing
framework turns into ``UnsupportedCase`` (a skip in the tests), never an ImportError.
"""

from __future__ import annotations

import importlib

from impls.contract import Implementation, UnsupportedCase

#: name -> "module:attribute". Add a line here to add an implementation.
REGISTRY: dict[str, str] = {
    "numpy-manual": "impls.numpy_manual:NumpyManual",
    "torch-manual": "impls.torch_manual:TorchManual",
    "torch-autograd": "impls.torch_autograd:TorchAutograd",
    "torch-function": "impls.torch_function:TorchFunction",
    "torch-nn": "impls.torch_nn:TorchNN",
    "torch-compile": "impls.torch_compile:TorchCompile",
    "jax-grad": "impls.jax_grad:JaxGrad",
    "jax-grad-eager": "impls.jax_grad:JaxGradEager",
}


def load(name: str) -> Implementation:
    """The implementation registered as ``name``; UnsupportedCase if its framework is missing."""
    if name not in REGISTRY:
        raise ValueError(f"unknown implementation {name!r}; known: {', '.join(REGISTRY)}")
    module_name, attr = REGISTRY[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and not error.name.startswith("impls"):
            raise UnsupportedCase(f"{name} needs {error.name}, which is not installed") from error
        raise
    return getattr(module, attr)()
