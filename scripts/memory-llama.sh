#!/usr/bin/env bash
# Peak client RSS of FedCyBGD against FedAvg on a SmolLM-135M-shaped Llama (docs/PERFORMANCE.md):
# runs jobs/memory-llama-fedcybgd.toml and jobs/memory-llama-fedavg.toml (one cycle of one-step
# rounds, random weights), the first with train.blocks = "layers", and jobs/memory-llama-fedcybgd-shards.toml
# (the first with train.embedding_shards = 4), under mpirun -n 3, and reads each rank's peak RSS from history.h5.
#   scripts/memory-llama.sh            (OUT=file also writes the table there)
# Settings: FEDCYBGD_BIN (skip the build), RUNS (where the runs go, default a temporary folder).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${FEDCYBGD_BIN:-}" ]; then bin=$FEDCYBGD_BIN; else
  (cd "$root" && swift build -c release --product fedcybgd >/dev/null); bin="$root/.build/release/fedcybgd"; fi
runs=${RUNS:-$(mktemp -d)}
mkdir -p "$runs"
# A third run: FedCyBGD over the layer blocks only, to show what the embedding round adds.
sed -e 's/^name = "memory-llama-fedcybgd"/name = "memory-llama-fedcybgd-layers"/' -e 's/^cycles = 1/cycles = 1\nblocks = "layers"/' \
  "$root/jobs/memory-llama-fedcybgd.toml" > "$runs/memory-llama-fedcybgd-layers.toml"
for job in "$root/jobs/memory-llama-fedcybgd.toml" "$root/jobs/memory-llama-fedavg.toml" "$runs/memory-llama-fedcybgd-layers.toml" \
  "$root/jobs/memory-llama-fedcybgd-shards.toml"; do
  name=$(basename "$job" .toml)
  bash "$root/scripts/mpirun.sh" -n 3 "$bin" train "$job" --output "$runs" --replace >"$runs/$name.log" 2>&1 \
    || { echo "memory-llama: $name failed; see $runs/$name.log" >&2; exit 1; }
done
table=$(python3 - "$runs" <<'PY'
import sys, h5py
runs = sys.argv[1]
peak = {}
for name in ("fedcybgd", "fedavg", "fedcybgd-layers", "fedcybgd-shards"):
    with h5py.File(f"{runs}/memory-llama-{name}/history.h5", "r") as f:
        rss = f["history"]["rank_peak_rss"][()]
        first_block = int(f["history"]["block"][0])
        peak[name] = (rss[:, 0].max(), rss[:, 1:].max(), rss[0, 1:].max(), first_block)
ratio = peak["fedcybgd"][1] / peak["fedavg"][1]
print("SmolLM-135M shape (30 x 576, 9 heads over 3 key/value heads, intermediate 1536, vocab 49152, tied), "
      "batch 4 x 128, one cycle of one-step rounds, mpirun -n 3 (rank 0 server, ranks 1-2 clients)")
print(f"{'run':34s} {'server peak RSS':>16s} {'client peak RSS':>16s} {'client peak after round 1':>26s}")
labels = {"fedcybgd": "fedcybgd (every block)", "fedavg": "fedavg",
          "fedcybgd-layers": "fedcybgd, blocks = \"layers\"", "fedcybgd-shards": "fedcybgd, embedding_shards = 4"}
for name in ("fedcybgd", "fedavg", "fedcybgd-layers", "fedcybgd-shards"):
    server, client, first, block = peak[name]
    print(f"{labels[name]:34s} {server / 1e6:13.0f} MB {client / 1e6:13.0f} MB {first / 1e6:15.0f} MB (block {block})")
print(f"client ratio fedcybgd / fedavg: {ratio:.2f} (target <= 0.50: {'met' if ratio <= 0.5 else 'missed'})")
set_by_embedding = peak["fedcybgd"][2] >= peak["fedcybgd"][1]
print(f"fedcybgd's client peak is reached in round 1, which trains block 0 (the tied embedding, 49152 x 576): "
      f"{'yes' if set_by_embedding else 'no'}; without the embedding round the client peak is "
      f"{peak['fedcybgd-layers'][1] / 1e6:.0f} MB, {peak['fedcybgd-layers'][1] / peak['fedavg'][1]:.2f} of fedavg's")
shards = peak["fedcybgd-shards"]
print(f"with train.embedding_shards = 4 (each shard 12288 x 576, its own round) the client peak is {shards[1] / 1e6:.0f} MB, "
      f"{shards[1] / peak['fedavg'][1]:.2f} of fedavg's, against {peak['fedcybgd'][1] / 1e6:.0f} MB without "
      f"(round 1, the first shard: {shards[2] / 1e6:.0f} MB)")
PY
)
echo "$table"
if [ -n "${OUT:-}" ]; then
  { echo "scripts/memory-llama.sh, $(date -u +%Y-%m-%d)"; "$bin" bench --sgemm-only --layers 1 --width 32 --heads 2 --vocab 64 --sequence 16 --batch 2 2>/dev/null | grep -E '^cpu: '; echo "$table"; } > "$OUT"
  echo "written to $OUT"
fi
