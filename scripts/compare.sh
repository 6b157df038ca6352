#!/usr/bin/env bash
# The method comparison of docs/COMPARISON.md, remade by one command (`make compare`):
#   1. jobs/pretrain-base.toml trains the base model centrally, unless runs/pretrain-base already
#      holds a complete checkpoint of its last round (a stopped pretraining is resumed);
#   2. every jobs/compare-*.toml fine-tunes that base (--replace: each run starts afresh);
#   3. analysis/compare_methods.py writes docs/COMPARISON.md and docs/comparison/*.png.
# About 20 minutes on 2 cores with the default 3 ranks (see the sizing comments in the jobs).
# RANKS=N changes the rank count; COMPARE_JOBS="jobs/compare-fedavg.toml ..." runs a subset;
# MEMORY_JOBS="" skips the memory-at-scale runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ranks="${RANKS:-3}"
bin=.build/release/fedcybgd
bash scripts/setup.sh
swift build -c release --product fedcybgd 2>&1 | grep -E "error|Build complete" || true
test -x "$bin" || { echo "compare: the build failed; run 'swift build -c release' to see why" >&2; exit 1; }

# True when the run folder's newest complete checkpoint is of the last round its job plans.
pretrained() {
    python3 - "$1" <<'PY'
import pathlib, sys, tomllib
sys.path.insert(0, "analysis")
import runfiles
folder = pathlib.Path(sys.argv[1])
checkpoint = runfiles.newest_checkpoint(folder) if folder.is_dir() else None
if checkpoint is None:
    sys.exit(1)
with runfiles.open_h5(checkpoint.path) as f:
    job = tomllib.loads(f["config"].attrs["job"])
    done = int(f["state/round"][()])
sys.exit(0 if done >= int(job["train"]["rounds"]) else 1)
PY
}

start=$(date +%s)
if pretrained runs/pretrain-base; then
    echo "compare: runs/pretrain-base is complete; reusing it (delete the folder to pretrain again)"
else
    # --resume continues a stopped pretraining from its newest checkpoint, or starts a new one.
    bash scripts/mpirun.sh -n "$ranks" "$bin" train jobs/pretrain-base.toml --resume
fi
for job in ${COMPARE_JOBS:-jobs/compare-*.toml}; do
    echo "compare: $job"
    bash scripts/mpirun.sh -n "$ranks" "$bin" train "$job" --replace
done
# Memory at scale: one short cycle per method on a GPT-2-small-shaped model (jobs/memory-*.toml).
for job in ${MEMORY_JOBS-jobs/memory-fed*.toml}; do
    echo "compare: $job"
    bash scripts/mpirun.sh -n "$ranks" "$bin" train "$job" --replace
done
runs=()
for job in ${COMPARE_JOBS:-jobs/compare-*.toml}; do runs+=("runs/$(basename "$job" .toml)"); done
memory=()
for job in ${MEMORY_JOBS-jobs/memory-fed*.toml}; do memory+=("runs/$(basename "$job" .toml)"); done
python3 analysis/compare_methods.py "${runs[@]}" --out docs --memory "${memory[@]}"
echo "compare: done in $(( $(date +%s) - start )) s"
