#!/usr/bin/env bash
# The demo: installs what is missing, builds, and trains jobs/demo.toml on the fortunes corpus
# with 4 MPI ranks (1 server, 3 client hosts; the job's k = 3 gives each client rank one client
# per round). The run lands in runs/demo/; a short sample of
# generated text ends the output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "building fedcybgd (release)..."
swift build -c release --product fedcybgd 2>&1 | grep -E "error|warning: unre|Compiling fedcybgd|Build complete|Build of product" || true
test -x .build/release/fedcybgd || { echo "demo: the build failed; run 'swift build -c release' to see why" >&2; exit 1; }
bash scripts/mpirun.sh -n "${RANKS:-4}" .build/release/fedcybgd train jobs/demo.toml --replace "$@"
# The summary ends with what the model learned: a short sample from the newest checkpoint.
output=runs; args=("$@")
for i in "${!args[@]}"; do [ "${args[$i]}" = "--output" ] && output="${args[$((i + 1))]}"; done
echo "sample (fedcybgd sample $output/demo --prompt \"Q:\" --tokens 160 --temperature 0.6):"
.build/release/fedcybgd sample "$output/demo" --prompt "Q:" --tokens 160 --temperature 0.6 --seed 1
