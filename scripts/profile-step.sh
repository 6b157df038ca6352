#!/usr/bin/env bash
# Where a full training step's time goes: `perf record` on `fedcybgd bench --cases full` (default bench
# shape, 2 threads, the environment's OPENBLAS_CORETYPE), grouped into OpenBLAS sgemm, the fused
# attention and the element-wise kernels, written to docs/measurements/profile-full-step.txt.
# Needs perf (Debian's linux-perf). Usage: scripts/profile-step.sh [OUT_FILE]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/docs/measurements/profile-full-step.txt}
command -v perf >/dev/null || { echo "profile-step: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
if [ -z "${FEDCYBGD_BIN:-}" ]; then (cd "$root" && swift build -c release --product fedcybgd >/dev/null); fi
bin=${FEDCYBGD_BIN:-$root/.build/release/fedcybgd}
data=$(mktemp)
trap 'rm -f "$data"' EXIT
bench=$(perf record -q -o "$data" "$bin" bench --cases full --steps 40 --no-sgemm-reference 2>/dev/null)
report=$(perf report -i "$data" --no-children --sort symbol --percent-limit 0.5 2>/dev/null | grep -E '^ +[0-9.]+%')
mkdir -p "$(dirname "$out")"
python3 - "$out" "$bench" "$report" <<'PY'
import re, sys, datetime
out, bench, report = sys.argv[1:]
rows = []
for line in report.splitlines():
    m = re.match(r"\s*([0-9.]+)%\s+\[[.k]\]\s+(\S+)", line)
    if m: rows.append((float(m.group(1)), m.group(2)))
def group(name):
    if name.startswith("sgemm") or name.startswith("__mem"): return "OpenBLAS sgemm (kernel, packing, beta) and memset/memcpy"
    if name.startswith(("attention", "tile_", "softmax")): return "fused attention"
    if name in ("gelu_forward", "gelu_from_tanh", "gelu_backward_tanh", "gelu_backward", "adamw", "column_sums",
                "layernorm_forward", "layernorm_input_grad", "layernorm_param_grad", "cross_entropy", "add"):
        return "element-wise kernels"
    return "other (set-up outside the timed steps, scheduler, kernel)"
totals = {}
for pct, name in rows: totals[group(name)] = totals.get(group(name), 0) + pct
with open(out, "w") as f:
    f.write(f"scripts/profile-step.sh, {datetime.date.today()}: perf record of fedcybgd bench --cases full --steps 40 --no-sgemm-reference\n")
    f.write("\n".join(l for l in bench.splitlines() if l.startswith(("cpu:", "blas:", "kernels:", "  full"))) + "\n\n")
    f.write("share of samples by group (symbols at 0.5 % or more):\n")
    for g, pct in sorted(totals.items(), key=lambda kv: -kv[1]): f.write(f"  {pct:5.1f} %  {g}\n")
    f.write("\nsymbols:\n")
    for pct, name in rows: f.write(f"  {pct:5.2f} %  {name}\n")
print(open(out).read())
PY
