#!/usr/bin/env bash
# mpirun with the flags a single workstation or container needs: root is allowed (containers
# and CI run as root) and more ranks than cores are allowed (the server rank mostly sleeps).
# Usage: scripts/mpirun.sh -n 4 .build/release/fedcybgd train jobs/demo.toml
set -euo pipefail
flags=(--oversubscribe --mca btl self,vader)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
exec mpirun "${flags[@]}" "$@"
