#!/usr/bin/env bash
# Repeated `fedcybgd bench` runs at the default bench shape (all three cases, 20 timed steps each,
# with plain-sgemm sweeps right before and right after each case's steps), written to
# docs/measurements/attention-in-step.txt with the medians over the runs of of_sgemm and
# attention_cost_per_flop per case, then one full-step run on one thread (docs/PERFORMANCE.md).
# From each step's times (`bench --per-step`) it also counts the stalled steps (over 1.3x the
# case's median step) and where their extra time fell, and what attention_cost_per_flop would read
# from mean part times instead of the bench's medians.
# Usage: scripts/bench-step.sh [RUNS] (default 5). Run as root under chrt for quiet cores; FEDCYBGD_BIN skips the build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
out=${OUT:-$root/docs/measurements/attention-in-step.txt}
if [ -z "${FEDCYBGD_BIN:-}" ]; then (cd "$root" && swift build -c release --product fedcybgd >/dev/null); fi
bin=${FEDCYBGD_BIN:-$root/.build/release/fedcybgd}
command="chrt -f 50 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE fedcybgd bench"
all=""
for i in $(seq "$runs"); do
  all+=$(chrt -f 50 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$bin" bench --per-step 2>/dev/null | grep -E '^(cpu|blas|kernels):|^  ')$'\n'
  echo "bench-step: run $i/$runs done" >&2
done
one=$(chrt -f 50 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$bin" bench --threads 1 --cases full 2>/dev/null | grep -E '^  ')
summary=$(python3 - "$all" <<'PY'
import re, statistics, sys
text = sys.argv[1]
cases = {}
for m in re.finditer(r"^  (\S+(?: layer \(block \d+\))?)\s+tokens/s=\s*(\d+).*?of_sgemm=\s*([\d.]+).*\n.*attention_cost_per_flop=([\d.]+)", text, re.M):
    c = cases.setdefault(m.group(1), {"tokens": [], "of_sgemm": [], "attention": []})
    c["tokens"].append(int(m.group(2))); c["of_sgemm"].append(float(m.group(3))); c["attention"].append(float(m.group(4)))
print("medians over the runs:")
for name, c in cases.items():
    print(f"  {name:22s} tokens/s {statistics.median(c['tokens']):7.0f}  of_sgemm {statistics.median(c['of_sgemm']):.3f} "
          f"(runs {', '.join(f'{x:.3f}' for x in c['of_sgemm'])})  attention_cost_per_flop {statistics.median(c['attention']):.2f}")
# Each case's per-step lines follow all the case lines of its run, in the same order.
steps = {}
for m in re.finditer(r"^  (.+?) (step|dense|attention)_ms:((?: [\d.]+)+)$", text, re.M):
    steps.setdefault(m.group(1), {}).setdefault(m.group(2), []).append([float(x) for x in m.group(3).split()])
print()
print("stalled steps (over 1.3x their case's median step) and where their extra time fell; attention_cost_per_flop")
print("from the part times' medians (as the bench reports it) and from their means (as it did before 2026-11-29):")
for name, c in cases.items():
    s = steps.get(name)
    if not s: continue
    stalled, extra, by_means = 0, {"dense": 0.0, "attention": 0.0, "other": 0.0}, []
    for run, (total, dense, attention) in enumerate(zip(s["step"], s["dense"], s["attention"])):
        mt, md, ma = statistics.median(total), statistics.median(dense), statistics.median(attention)
        for t, d, a in zip(total, dense, attention):
            if t > 1.3 * mt:
                stalled += 1
                extra["dense"] += d - md; extra["attention"] += a - ma; extra["other"] += (t - d - a) - (mt - md - ma)
        by_means.append(c["attention"][run] * (statistics.mean(attention) / ma) / (statistics.mean(dense) / md))
    steps_total = sum(len(t) for t in s["step"])
    where = ", ".join(f"{k} {v:.0f} ms" for k, v in extra.items())
    print(f"  {name:22s} stalled {stalled} of {steps_total} steps (extra time: {where}); attention_cost_per_flop by medians "
          f"{', '.join(f'{x:.2f}' for x in c['attention'])}, by means {', '.join(f'{x:.2f}' for x in by_means)}")
PY
)
machine=$(grep -E '^(cpu|blas|kernels):' <<<"$all" | sort -u)
{
  echo "scripts/bench-step.sh, $(date -u +%Y-%m-%d): $runs runs of $command --per-step (default bench shape, 2 threads, 3 warm-up and 20 timed steps per case, 3 plain-sgemm sweeps right before and right after each case's steps; the per-step lines are summarised at the end)"
  echo "$machine"
  grep -vE '^(cpu|blas|kernels):|_ms:' <<<"$all"
  echo "$summary"
  echo
  echo "one thread ($command --threads 1 --cases full), for the part of the step that is not sgemm:"
  echo "$one"
} > "$out"
cat "$out"
