"""The main job: time every implementation on the default sizes and write a report under results/.

    python -m bench                      # default preset, all cores, every impl/dtype/device present
    python -m bench --preset sweep --threads 1 --impl jax-grad,torch-autograd

The same job as ``pytest --benchmark``, with the same options (bench.options, bench.job).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from bench import job
from bench.options import Plan, add_arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])])
    try:
        plan = Plan.parse(vars(args), command)
    except ValueError as error:
        parser.error(str(error))
    return job.run(plan)


if __name__ == "__main__":
    sys.exit(main())
