#!/usr/bin/env bash
# The CUDA column in one go, for a borrowed GPU machine with little time on it: the checks on cuda
# (strict and tf32), then the main job on cuda, each stage under its own time limit so that a slow
# stage leaves the later ones their turn. Run from the repository root, with torch, jax, pytest,
# pytest-xdist, pytest-benchmark, hypothesis, pandas and matplotlib installed:
#
#     OUT=somewhere bash bench/on_gpu.sh [CHECKS_S] [JOB_S] [SUITE_S] [ROUNDS] [PRESET]
#
# The defaults (180 s, 270 s, 90 s, 20 rounds, the quick preset) fit one 10-minute call of the device tool.
#
# It writes into $OUT: env.txt (GPU, driver, library versions); cases.log (a line per case as it
# ends, so that a stage stopped by its limit still names what failed) and cases.xml; job.log, run.tgz
# (the job's run folder, raw/ left out), raw.tgz, and report.log where a report had to be built from raw/
# after the job's limit; suite.log (the rest of the suite, --device cuda).
# Each stage's exit status is its log's last line; the script's is the first that failed.
#
# What the stages took on an H200 with 16 cores (docs/gpu.md): the checks over 150 s (torch.compile's
# first compiles on cuda last); the job at 20 rounds about 15 min (4 min of fresh processes timing each
# framework alone, then about 35 s per race); the rest of the suite over 105 s. The quick preset has
# 5 ways on cuda, 2 modes, 2 phases: 20 fresh processes and 4 races, about 4 minutes by those figures.
set -uo pipefail
: "${OUT:?set OUT to the folder the logs and results go into}"
CHECKS_S=${1:-180} JOB_S=${2:-270} SUITE_S=${3:-90} ROUNDS=${4:-20} PRESET=${5:-quick}
# Another device (DEVICE=cpu) tries the script out where there is no GPU.
DEVICE=${DEVICE:-cuda}
# The interpreter that holds the frameworks (on the lent GPU machines, python3).
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
# As tox's cuda environments: jax would otherwise take 75% of the GPU in every process that starts it.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

stage() {  # stage NAME SECONDS COMMAND...: run it under a time limit, log into $OUT/NAME.log
    local name=$1 limit=$2; shift 2
    local started=$SECONDS
    timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
    local code=$?
    echo "== $name: exit $code after $((SECONDS - started)) s (limit $limit s)" | tee -a "$OUT/$name.log"
    [ "$status" -ne 0 ] || status=$code
    # The checks' children run in sessions of their own, out of timeout's reach: one still compiling would
    # take the GPU and cores from the next stage. This machine is lent for this script alone.
    pkill -f -- "-m impls.serve" || true
}

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$PYTHON" -c 'import sys, platform; print("python", sys.version.split()[0], platform.platform())'
    "$PYTHON" -m pip list 2>/dev/null | grep -iE '^(numpy|torch|jax|jaxlib|jax-cuda[0-9]*-(plugin|pjrt)|pytest|pytest-xdist|pytest-benchmark|hypothesis|pandas|matplotlib|triton) '
    "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
    "$PYTHON" -c 'import jax; print("jax", jax.__version__, jax.devices())'
} >"$OUT/env.txt" 2>&1

stage cases "$CHECKS_S" "$PYTHON" -m pytest tests/test_checks.py --device "$DEVICE" -v -rfEs --tb=short \
    -p no:cacheprovider --durations=15 --junitxml="$OUT/cases.xml"
stage job "$JOB_S" "$PYTHON" -m bench --device "$DEVICE" --preset "$PRESET" --rounds "$ROUNDS" --results "$work/results"
run=$(find "$work/results" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | head -n 1)
if [ -n "$run" ]; then
    # A job stopped by its time limit leaves raw/ without a report: build what its measurements allow.
    [ -f "$run/summary.md" ] || "$PYTHON" -m bench.report build "$run/raw" "$run" >"$OUT/report.log" 2>&1
    tar -czf "$OUT/run.tgz" -C "$work/results" --exclude=raw "$(basename "$run")"
    [ ! -d "$run/raw" ] || tar -czf "$OUT/raw.tgz" -C "$run" raw
fi
stage suite "$SUITE_S" "$PYTHON" -m pytest --device "$DEVICE" -v -rfE --tb=short -p no:cacheprovider \
    --ignore=tests/test_checks.py
exit "$status"
