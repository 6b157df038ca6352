#!/usr/bin/env bash
# Speed against PyTorch, measured in the same run on this machine: the reference script
# (shared/bench/torch_gpt_bench.py, CPU PyTorch installed by setup.sh) and `fedcybgd bench` run
# interleaved REPEATS times on the default bench config with 2 threads; prints medians and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${REPEATS:-5}
reference=${TORCH_BENCH:-../shared/bench/torch_gpt_bench.py}
swift build -c release --product fedcybgd >/dev/null
torch_full=(); torch_last=(); ours_full=(); ours_last=()
for _ in $(seq "$repeats"); do
  torch_full+=("$(python3 "$reference" --threads 2 2>/dev/null | sed -n 's/.*tokens\/s=\([0-9]*\).*/\1/p')")
  torch_last+=("$(python3 "$reference" --threads 2 --block 5 2>/dev/null | sed -n 's/.*tokens\/s=\([0-9]*\).*/\1/p')")
  ours=$(.build/release/fedcybgd bench --threads 2 --steps 10)
  ours_full+=("$(echo "$ours" | sed -n 's/^ *full .*tokens\/s= *\([0-9]*\).*/\1/p')")
  ours_last+=("$(echo "$ours" | sed -n 's/^ *last layer.*tokens\/s= *\([0-9]*\).*/\1/p')")
done
python3 - "${torch_full[*]}" "${torch_last[*]}" "${ours_full[*]}" "${ours_last[*]}" <<'PY'
import statistics, sys
tf, tl, of, ol = ([int(x) for x in arg.split()] for arg in sys.argv[1:])
for name, torch, ours in (("full step", tf, of), ("last layer only", tl, ol)):
    t, o = statistics.median(torch), statistics.median(ours)
    print(f"{name:16s} torch median {t:7.0f} tokens/s  fedcybgd median {o:7.0f} tokens/s  ratio {o / t:.2f}  (runs: torch {torch}, fedcybgd {ours})")
PY
