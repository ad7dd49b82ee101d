"""The harness: one implementation run on canonical inputs, in a child process of its own.

``session``: numpy in, numpy out, every answer checked at the boundary. ``isolation``: where the
implementation runs (a child process, or this one) and what becomes of an exit, a crash or a hang.
``selection``: which cases a run asks for, from the drivers' and the benchmarks' options.
The child's side is ``impls.serve``; the messages between the two are ``impls.protocol``.
"""
