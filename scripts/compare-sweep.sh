#!/usr/bin/env bash
# The learning-rate sweep behind the rates in jobs/compare-*.toml (docs/COMPARISON.md): each
# method's compare job, unchanged but for train.learning_rate, at every rate of the grid; prints
# and writes docs/comparison/lr_sweep.md with the final eval loss of each. Needs runs/pretrain-base
# (make compare trains it). About 20 minutes on 2 cores with 3 ranks; a rate whose run folder
# already holds a finished run is not run again (delete runs/sweep-* to redo them).
# METHODS="fedcybgd fedavg fedlora" and RATES="1.25e-4 2.5e-4 5e-4 1e-3 2e-3 4e-3" choose the grid.
set -euo pipefail
cd "$(dirname "$0")/.."
ranks="${RANKS:-3}"
bin=.build/release/fedcybgd
test -x "$bin" || { echo "compare-sweep: no $bin; run 'make compare' first" >&2; exit 1; }
test -d runs/pretrain-base || { echo "compare-sweep: no runs/pretrain-base; run 'make compare' first" >&2; exit 1; }
methods="${METHODS:-fedcybgd fedavg fedlora}"
rates="${RATES:-1.25e-4 2.5e-4 5e-4 1e-3 2e-3 4e-3}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for method in $methods; do
    for rate in $rates; do
        name="sweep-$method-$rate"
        if python3 -c "import h5py, sys; sys.exit(0 if 'final_eval_loss' in h5py.File('runs/$name/history.h5', 'r', locking=False)['summary'].attrs else 1)" 2>/dev/null; then
            echo "compare-sweep: $method at learning rate $rate is done already"
            continue
        fi
        sed -e "s/^name = .*/name = \"$name\"/" -e "s/^learning_rate = .*/learning_rate = $rate/" \
            "jobs/compare-$method.toml" > "$work/$name.toml"
        echo "compare-sweep: $method at learning rate $rate"
        bash scripts/mpirun.sh -n "$ranks" "$bin" train "$work/$name.toml" --replace > "$work/$name.log"
        tail -n 1 "$work/$name.log" | grep -q "run written" || { cat "$work/$name.log"; exit 1; }
    done
done
python3 - "$methods" "$rates" <<'PY'
import pathlib, sys
sys.path.insert(0, "analysis")
import runfiles
methods, rates = sys.argv[1].split(), sys.argv[2].split()
lines = ["# Learning-rate sweep for the comparison", "",
         "Made by `scripts/compare-sweep.sh`: each method's `jobs/compare-<method>.toml` with only "
         "`train.learning_rate` changed. Final held-out eval loss (nats/byte) after every run's 160 rounds; "
         "the best rate of each method is in bold and is what its compare job uses.", "",
         "| method | " + " | ".join(f"lr {r}" for r in rates) + " |", "|---|" + "---|" * len(rates)]
for method in methods:
    losses = [float(runfiles.load_run(pathlib.Path(f"runs/sweep-{method}-{r}")).summary["final_eval_loss"]) for r in rates]
    best = min(losses)
    lines.append(f"| {method} | " + " | ".join(f"**{x:.4f}**" if x == best else f"{x:.4f}" for x in losses) + " |")
out = pathlib.Path("docs/comparison/lr_sweep.md")
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
