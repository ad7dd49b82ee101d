"""The registry: every implementation users see, by name, and the loader for plug-ins.

Modules are imported only when asked for, so listing names needs no framework, and a missing
framework turns into ``UnsupportedCase`` (a skip in the tests), never an ImportError.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from impls.contract import Implementation, PluginError, UnsupportedCase

#: name -> "module:attribute". Add a line here to add an implementation.
REGISTRY: dict[str, str] = {
    "numpy-manual": "impls.numpy_manual:NumpyManual",
    "numpy-momentum": "impls.numpy_momentum:NumpyMomentum",
    "numpy-adam": "impls.numpy_adam:NumpyAdam",
    "numpy-minibatch": "impls.numpy_minibatch:NumpyMinibatch",
    "numpy-dynamic": "impls.numpy_dynamic:NumpyDynamic",
    "numpy-inplace": "impls.numpy_inplace:NumpyInplace",
    "torch-manual": "impls.torch_manual:TorchManual",
    "torch-autograd": "impls.torch_autograd:TorchAutograd",
    "torch-function": "impls.torch_function:TorchFunction",
    "torch-nn": "impls.torch_nn:TorchNN",
    "torch-module": "impls.torch_module:TorchModule",
    "torch-functional": "impls.torch_functional:TorchFunctional",
    "torch-momentum": "impls.torch_optim:TorchMomentum",
    "torch-adam": "impls.torch_optim:TorchAdam",
    "torch-dataloader": "impls.torch_dataloader:TorchDataLoader",
    "torch-dynamic": "impls.torch_dynamic:TorchDynamic",
    "torch-compile": "impls.torch_compile:TorchCompile",
    "torch-compile-step": "impls.torch_compile_step:TorchCompileStep",
    "torch-inplace": "impls.torch_inplace:TorchInplace",
    "torch-cuda-graph": "impls.torch_cuda_graph:TorchCudaGraph",
    "jax-grad": "impls.jax_grad:JaxGrad",
    "jax-grad-eager": "impls.jax_grad:JaxGradEager",
    "jax-grad-donated": "impls.jax_donate:JaxGradDonated",
    "jax-momentum": "impls.jax_optax:JaxMomentum",
    "jax-adam": "impls.jax_optax:JaxAdam",
    "jax-dynamic": "impls.jax_dynamic:JaxDynamic",
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


def load_any(spec: str) -> Implementation:
    """A registered name, or a plug-in spec; a bare name that is neither is a one-line PluginError."""
    if spec in REGISTRY:
        return load(spec)
    if ":" not in spec and not spec.endswith(".py"):
        raise PluginError(f"unknown implementation {spec!r}; give a registered name ({', '.join(REGISTRY)}), "
                          "FILE.py[:Class] or module:Class")
    return load_plugin(spec)


def spec_of(cls: type[Implementation]) -> str:
    """The ``module:Class`` another process loads ``cls`` by (a class defined in a function has none)."""
    if "<locals>" in cls.__qualname__ or cls.__module__ in ("__main__", "builtins"):
        raise PluginError(f"{cls.__qualname__} is not importable from another process: define it at a module's "
                          "top level")
    return f"{cls.__module__}:{cls.__qualname__}"


def load_plugin(spec: str) -> Implementation:
    """An implementation from outside the registry: ``path/to/file.py[:Class]`` or ``module:Class``.

    Without ``:Class`` the file must define exactly one ``Implementation`` subclass. Every
    problem (the file is missing or does not import, no or several classes, abstract methods
    left out, class attributes missing, the constructor raising) is a one-line PluginError.
    """
    target, _, attr = spec.partition(":")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise PluginError(f"{spec}: no such file")
        module_name = f"twolayer_plugin_{path.stem}"
        try:
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            module_spec.loader.exec_module(module)
        except Exception as error:  # noqa: BLE001 (any failure of foreign code is reported, not raised)
            raise PluginError(f"{spec}: importing it failed: {type(error).__name__}: {error}") from error
    else:
        try:
            module = importlib.import_module(target)
        except Exception as error:  # noqa: BLE001
            raise PluginError(f"{spec}: importing {target!r} failed: {type(error).__name__}: {error}") from error
    if attr:
        if not hasattr(module, attr):
            raise PluginError(f"{spec}: {target} defines no {attr!r}")
        candidate = getattr(module, attr)
    else:
        found = [c for _, c in inspect.getmembers(module, inspect.isclass)
                 if issubclass(c, Implementation) and c.__module__ == module.__name__]
        if len(found) != 1:
            names = ", ".join(c.__name__ for c in found) or "none"
            raise PluginError(f"{spec}: expected exactly one Implementation subclass, found {names}; "
                              "name one as path.py:Class")
        candidate = found[0]
    return instantiate(spec, candidate)


def instantiate(spec: str, candidate: object) -> Implementation:
    """The plug-in object, after checking it meets the contract's declared part."""
    if isinstance(candidate, type):
        if not issubclass(candidate, Implementation):
            raise PluginError(f"{spec}: {candidate.__name__} does not subclass impls.contract.Implementation")
        missing = sorted(getattr(candidate, "__abstractmethods__", ()))
        if missing:
            raise PluginError(f"{spec}: {candidate.__name__} does not define {', '.join(missing)}")
        try:
            candidate = candidate()
        except Exception as error:  # noqa: BLE001
            raise PluginError(f"{spec}: {candidate.__name__}() raised {type(error).__name__}: {error}") from error
    if not isinstance(candidate, Implementation):
        raise PluginError(f"{spec}: {type(candidate).__name__} is not an Implementation")
    try:
        candidate.validate_declaration()
    except PluginError as error:
        raise PluginError(f"{spec}: {error}") from None
    return candidate
