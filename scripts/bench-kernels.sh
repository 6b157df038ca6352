#!/usr/bin/env bash
# Kernel measurements for docs/PERFORMANCE.md, written to docs/measurements/:
#   kernels.txt           `fedcybgd bench-kernels` (attention against the dense layers per FLOP, and the
#                          element-wise kernels on every path this CPU runs), 1 and 2 threads;
#   sgemm-kernel-sets.txt  plain sgemm GFLOP/s at the bench model's shapes for each OpenBLAS kernel set
#                          this CPU can load (OPENBLAS_CORETYPE), 1 and 2 threads, 3 passes;
#   sgemm-modes.txt        10 passes of `fedcybgd bench --sgemm-only` with the kernels fedcybgd chooses, 2 threads:
#                          OpenBLAS's own threading against the engine's split at the same moments.
# Usage: scripts/bench-kernels.sh [OUT_DIR]   (default docs/measurements). FEDCYBGD_BIN skips the build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/docs/measurements}
mkdir -p "$out"
if [ -z "${FEDCYBGD_BIN:-}" ]; then (cd "$root" && swift build -c release --product fedcybgd >/dev/null); fi
bin=${FEDCYBGD_BIN:-$root/.build/release/fedcybgd}
stamp="$(date -u +%Y-%m-%d)"

{
  echo "scripts/bench-kernels.sh, $stamp: fedcybgd bench-kernels (wall clock, median of 50)"
  "$bin" bench --sgemm-only --layers 1 --width 32 --heads 2 --vocab 64 --sequence 16 --batch 2 2>/dev/null | grep -E '^(cpu|blas): '
  for threads in 1 2; do "$bin" bench-kernels --threads "$threads" --steps 50; done
} > "$out/kernels.txt"
cat "$out/kernels.txt"

sets=(Prescott Haswell SkylakeX Cooperlake)
{
  echo "scripts/bench-kernels.sh, $stamp: fedcybgd bench --sgemm-only per OPENBLAS_CORETYPE (GFLOP/s, 3 interleaved passes)"
  "$bin" bench --sgemm-only --layers 1 --width 32 --heads 2 --vocab 64 --sequence 16 --batch 2 2>/dev/null | grep -E '^cpu: '
  printf '%-24s %-22s %-22s\n' "kernel set" "1 thread" "2 threads"
  for set in auto "${sets[@]}"; do
    one=(); two=()
    for _ in 1 2 3; do
      for threads in 1 2; do
        if [ "$set" = auto ]; then
          line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u FEDCYBGD_OPENBLAS_CORETYPE "$bin" bench --sgemm-only --threads "$threads" 2>/dev/null)
        else
          line=$(env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="$set" "$bin" bench --sgemm-only --threads "$threads" 2>/dev/null)
        fi
        value=$(sed -n 's/^sgemm:.*GFLOP\/s=\([0-9.]*\).*/\1/p' <<<"$line")
        core=$(sed -n 's/^blas:.*; core \([A-Za-z0-9]*\).*/\1/p' <<<"$line")
        if [ "$threads" = 1 ]; then one+=("$value"); else two+=("$value"); fi
      done
    done
    label=$set; [ "$set" = auto ] && label="auto (loads $core)"
    printf '%-24s %-22s %-22s\n' "$label" "${one[*]}" "${two[*]}"
  done
} > "$out/sgemm-kernel-sets.txt"
cat "$out/sgemm-kernel-sets.txt"

{
  echo "scripts/bench-kernels.sh, $stamp: 10 passes of fedcybgd bench --sgemm-only --threads 2 (bench shape; GFLOP/s)"
  "$bin" bench --sgemm-only --layers 1 --width 32 --heads 2 --vocab 64 --sequence 16 --batch 2 2>/dev/null | grep -E '^(cpu|blas): '
  printf '%-6s %-30s %-30s\n' pass "OpenBLAS threading (sgemm:)" "engine's split (sgemm-split:)"
  for pass in $(seq 10); do
    line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$bin" bench --sgemm-only --threads 2 2>/dev/null)
    plain=$(sed -n 's/^sgemm:.*GFLOP\/s=\([0-9.]*\).*/\1/p' <<<"$line")
    split=$(sed -n 's/^sgemm-split:.*GFLOP\/s=\([0-9.]*\).*/\1/p' <<<"$line")
    printf '%-6s %-30s %-30s\n' "$pass" "$plain" "$split"
  done
} > "$out/sgemm-modes.txt"
cat "$out/sgemm-modes.txt"
