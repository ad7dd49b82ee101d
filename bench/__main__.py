"""The main job: time every implementation on the default sizes and write a report under results/.

    python -m bench                      # default preset, all cores, every impl/dtype/device present
    python -m bench --preset sweep --threads 1 --impl jax-grad,torch-autograd

The same job as ``pytest --benchmark`` with the same options (bench.job).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench import job
from bench.sizes import PRESETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--threads", default="all", help="'all' (default: every core) or a number, e.g. 1")
    parser.add_argument("--impl", default="all")
    parser.add_argument("--device", default="all")
    parser.add_argument("--dtype", default="all")
    parser.add_argument("--mode", default="all", help="strict, tf32 or all (tf32 exists for float32 on cuda)")
    parser.add_argument("--impl-path", action="append", default=[], help="a plug-in to time; repeatable")
    parser.add_argument("--time-unverified", action="store_true",
                        help="time cases that fail verification too (flagged in every table and plot)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per race (default: the preset's)")
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])])
    try:
        options = job.Options.parse(preset=args.preset, threads=args.threads, impl=args.impl, device=args.device,
                                    dtype=args.dtype, mode=args.mode, impl_paths=tuple(args.impl_path),
                                    results=args.results, time_unverified=args.time_unverified,
                                    rounds=args.rounds, command=command)
    except ValueError as error:
        parser.error(str(error))
    return job.run(options)


if __name__ == "__main__":
    sys.exit(main())
