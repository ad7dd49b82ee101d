"""Check one implementation, yours or a built-in one, and print a verdict table with diagnoses.

    python -m reference.check examples/my_impl.py
    python -m reference.check path/to/file.py:MyClass --dtype float64 --timeout 30
    python -m reference.check torch-nn

Exit status: 0 if every check passes, 1 if any fails, 2 if the implementation cannot be
loaded or the arguments are wrong. Shapes: tutorial, batch1, hidden1, out1, square, odd, large.
"""

from __future__ import annotations

import argparse
import sys
import time

import impls
from impls.backends import DEVICES, DTYPES
from impls.contract import PluginError, Session, UnsupportedCase
from reference.cases import SHAPES
from reference.verdict import DEFAULT_TIMEOUT_S, Verdict, evaluate


def limit_threads(threads: int) -> None:
    """Cap the BLAS and OpenMP pools (threadpoolctl) and, if loaded, torch's intra-op threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("note: threadpoolctl is not installed; BLAS keeps its default thread count", file=sys.stderr)
    else:
        threadpool_limits(threads)
    if "torch" in sys.modules and sys.modules["torch"] is not None:
        sys.modules["torch"].set_num_threads(threads)


def table(verdict: Verdict) -> str:
    rows = [("check", "result", "error/tol", "diagnosis")]
    for o in verdict.outcomes:
        ratio = "" if o.ratio != o.ratio else f"{o.ratio:.3g}"
        rows.append((o.check, "pass" if o.passed else "FAIL", ratio, o.explanation))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip() for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference.check", description=__doc__.split("\n\n")[0])
    parser.add_argument("implementation", help="FILE.py[:Class], module:Class, or a registered name")
    parser.add_argument("--device", default="cpu", choices=DEVICES)
    parser.add_argument("--dtype", default=",".join(DTYPES), help="comma list (default: float32,float64)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma list of {', '.join(SHAPES)}")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per check (default 120)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/torch threads (default 1: the checks' small products gain nothing from more, "
                             "and on a busy machine more threads than free cores slow them down many times)")
    args = parser.parse_args(argv)
    dtypes = [d for d in args.dtype.split(",") if d]
    shapes = tuple(s for s in args.shapes.split(",") if s)
    for value, known, what in [(d, DTYPES, "dtype") for d in dtypes] + [(s, SHAPES, "shape") for s in shapes]:
        if value not in known:
            parser.error(f"unknown {what} {value!r}; choose from {', '.join(known)}")
    try:
        impl = impls.load(args.implementation) if args.implementation in impls.REGISTRY \
            else impls.load_plugin(args.implementation)
    except (PluginError, UnsupportedCase) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    limit_threads(args.threads)  # after loading: a torch implementation has imported torch by now
    failed = 0
    for dtype in dtypes:
        try:
            session = Session(impl, args.device, dtype)
        except UnsupportedCase as reason:
            print(f"{impl.name} [{args.device}, {dtype}]: skipped: {reason}\n")
            continue
        started = time.perf_counter()
        verdict = evaluate(session, shapes, args.timeout)
        passed = sum(o.passed for o in verdict.outcomes)
        print(f"{session.label}: {passed} of {len(verdict.outcomes)} checks pass "
              f"({time.perf_counter() - started:.1f} s)\n{table(verdict)}\n")
        failed += len(verdict.outcomes) - passed
    print("verdict:", "PASS" if failed == 0 else f"FAIL ({failed} checks)")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
