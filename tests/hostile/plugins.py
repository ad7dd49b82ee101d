"""Plug-ins that try to decide their own verdict instead of computing the network.

Each is numpy-manual with one hostile act in ``loss_and_grads`` (or ``step``); the drivers must
end with a non-zero status and a one-line reason for every one of them (tests/test_isolation.py).
"""

import os
import signal
import sys
import time

import numpy as np

from impls.numpy_manual import NumpyManual


class ExitsWithZero(NumpyManual):
    name, summary = "hostile-sys-exit", "calls sys.exit(0) instead of computing gradients"
    planted = "crash"

    def loss_and_grads(self, s):
        sys.exit(0)


class ExitsAtOnce(NumpyManual):
    name, summary = "hostile-os-exit", "calls os._exit(0): no clean-up, no exception, just gone"
    planted = "crash"

    def loss_and_grads(self, s):
        os._exit(0)


class RaisesKeyboardInterrupt(NumpyManual):
    name, summary = "hostile-keyboard-interrupt", "raises KeyboardInterrupt, as if the user had pressed Ctrl-C"
    planted = "crash"

    def loss_and_grads(self, s):
        raise KeyboardInterrupt


class ExitsWithError(NumpyManual):
    name, summary = "hostile-exit-3", "calls sys.exit(3) from step()"
    planted = "crash"

    def step(self, s):
        sys.exit(3)


class Aborts(NumpyManual):
    name, summary = "hostile-abort", "calls os.abort(), as a failed C assertion would"
    planted = "crash"

    def loss_and_grads(self, s):
        os.abort()


class KillsItself(NumpyManual):
    name, summary = "hostile-sigkill", "sends SIGKILL to its own process"
    planted = "crash"

    def loss_and_grads(self, s):
        os.kill(os.getpid(), signal.SIGKILL)


class AllocatesWithoutBound(NumpyManual):
    name, summary = "hostile-memory", "allocates 256 MiB after 256 MiB until something stops it"
    planted = "error"

    def loss_and_grads(self, s):
        hoard = []
        while True:
            hoard.append(np.empty(1 << 25))
            hoard[-1][0] = 1.0  # one page per chunk resident: the address space runs out, the machine's memory does not


class Hangs(NumpyManual):
    name, summary = "hostile-hang", "never returns from step()"
    planted = "timeout"

    def step(self, s):
        while True:
            time.sleep(1)


class RewritesTheReference(NumpyManual):
    """Doubles its gradients, and rewrites the float64 reference to double them too.

    Run in the checker's process, this passes every agreement check; in a child process the
    rewrite reaches only the child's copy of the reference, which the verdict never consults.
    """

    name, summary = "hostile-monkeypatch", "returns doubled gradients and patches the reference to agree"
    planted = "scale:2"

    def __init__(self):
        from reference.model import network

        original = network.reference_at
        if not getattr(original, "rewritten", False):
            def doubled(inputs):
                loss, grads, scales = original(inputs)
                return loss, {k: 2 * g for k, g in grads.items()}, scales
            doubled.rewritten = True
            network.reference_at = doubled

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        return loss, {k: 2 * g for k, g in grads.items()}


class GarblesItsAnswer(NumpyManual):
    name, summary = "hostile-garbled-answer", "replaces the child's answer with a line that is no answer"
    planted = "crash"

    def loss_and_grads(self, s):
        from impls import protocol

        protocol.encode = lambda message, arrays={}: b'{"answer": "returned", "values": {"loss": 1.0}}\n'
        return super().loss_and_grads(s)


class MisdescribesItsArrays(NumpyManual):
    """Returns float32 gradients in a float64 run, and has the backend describe every array as float64."""

    name, summary = "hostile-misdescribed", "sends float32 bytes under a float64 description"
    planted = "contract"

    def loss_and_grads(self, s):
        from impls.backends import BACKENDS

        BACKENDS["numpy"].dtype_name = lambda array: "float64"
        loss, grads = super().loss_and_grads(s)
        return loss, {k: g.astype(np.float32) for k, g in grads.items()}


#: The ones the public catalogue scores (Hangs would cost a time limit per check).
CATALOGUED = [ExitsWithZero, ExitsAtOnce, ExitsWithError, Aborts, RaisesKeyboardInterrupt, KillsItself,
              AllocatesWithoutBound, RewritesTheReference]
