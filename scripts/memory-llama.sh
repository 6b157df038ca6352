#!/usr/bin/env bash
# Peak client RSS of FedCyBGD against FedAvg on a SmolLM-135M-shaped Llama (docs/PERFORMANCE.md):
# runs jobs/memory-llama-fedcybgd.toml and jobs/memory-llama-fedavg.toml (one cycle of one-step
# rounds, random weights) under mpirun -n 3 and reads each rank's peak RSS from history.h5.
#   scripts/memory-llama.sh            (OUT=file also writes the table there)
# Settings: FEDCYBGD_BIN (skip the build), RUNS (where the runs go, default a temporary folder).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${FEDCYBGD_BIN:-}" ]; then bin=$FEDCYBGD_BIN; else
  (cd "$root" && swift build -c release --product fedcybgd >/dev/null); bin="$root/.build/release/fedcybgd"; fi
runs=${RUNS:-$(mktemp -d)}
mkdir -p "$runs"
for method in fedcybgd fedavg; do
  bash "$root/scripts/mpirun.sh" -n 3 "$bin" train "$root/jobs/memory-llama-$method.toml" --output "$runs" --replace >"$runs/$method.log" 2>&1 \
    || { echo "memory-llama: the $method run failed; see $runs/$method.log" >&2; exit 1; }
done
table=$(python3 - "$runs" <<'PY'
import sys, h5py
runs = sys.argv[1]
peak, block_peaks = {}, {}
for method in ("fedcybgd", "fedavg"):
    with h5py.File(f"{runs}/memory-llama-{method}/history.h5", "r") as f:
        h = f["history"]
        rss = h["rank_peak_rss"][()]
        peak[method] = (rss[:, 0].max(), rss[:, 1:].max())
        if method == "fedcybgd":
            block_peaks = {int(b): rss[r, 1:].max() for r, b in enumerate(h["block"][()])}
ratio = peak["fedcybgd"][1] / peak["fedavg"][1]
print("SmolLM-135M shape (30 x 576, 9 heads over 3 key/value heads, intermediate 1536, vocab 49152, tied), "
      "batch 4 x 128, one cycle of one-step rounds, mpirun -n 3 (rank 0 server, ranks 1-2 clients)")
print(f"{'method':10s} {'server peak RSS':>16s} {'client peak RSS':>16s}")
for method in ("fedcybgd", "fedavg"):
    print(f"{method:10s} {peak[method][0] / 1e6:13.0f} MB {peak[method][1] / 1e6:13.0f} MB")
print(f"client ratio fedcybgd / fedavg: {ratio:.2f} (target <= 0.50: {'met' if ratio <= 0.5 else 'missed'})")
first = sorted(block_peaks.items())
worst = max(first, key=lambda kv: kv[1])
print(f"fedcybgd's client peak grows as rounds go: after block 0 (tied embedding) {block_peaks[0] / 1e6:.0f} MB, "
      f"after block 1 {block_peaks[1] / 1e6:.0f} MB, largest after block {worst[0]} {worst[1] / 1e6:.0f} MB "
      "(peak RSS is the highest so far, so the first block that reaches it sets it)")
PY
)
echo "$table"
if [ -n "${OUT:-}" ]; then
  { echo "scripts/memory-llama.sh, $(date -u +%Y-%m-%d)"; "$bin" bench --sgemm-only --layers 1 --width 32 --heads 2 --vocab 64 --sequence 16 --batch 2 2>/dev/null | grep -E '^cpu: '; echo "$table"; } > "$OUT"
  echo "written to $OUT"
fi
