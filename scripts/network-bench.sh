#!/usr/bin/env bash
# Speed over the network (docs/PERFORMANCE.md): `fedcybgd bench-network` under mpirun with one
# rank on each of two hosts of the namespace cluster (scripts/netns-cluster.sh), which times a
# block upload (the training's own send and receive path) against plain MPI moving the same bytes,
# then a plain TCP stream of the same bytes between the same two hosts (scripts/tcp_stream.py).
#   scripts/network-bench.sh            (OUT=file also writes the report there, first line the command)
# Settings: FEDCYBGD_BIN (skip the build), REPEATS (default 31), FLOATS (default 7087872,49984:
# a GPT-2-small layer and a width-64 layer), and the cluster's FEDCYBGD_NETNS_* settings. A
# cluster that is not running is started, and stopped again at the end. Needs root.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "network-bench: needs root (the namespace cluster)" >&2; exit 1; }
if [ -n "${FEDCYBGD_BIN:-}" ]; then bin=$FEDCYBGD_BIN; else
  (cd "$root" && swift build -c release --product fedcybgd >/dev/null); bin="$root/.build/release/fedcybgd"; fi
repeats=${REPEATS:-31}
floats=${FLOATS:-7087872,49984}
cluster="$root/scripts/netns-cluster.sh"
prefix=${FEDCYBGD_NETNS_PREFIX:-fcb}
net=${FEDCYBGD_NETNS_NET:-10.77.0}
if ! bash "$cluster" status >/dev/null 2>&1; then
  FEDCYBGD_NETNS_HOSTS=${FEDCYBGD_NETNS_HOSTS:-2} bash "$cluster" start >/dev/null
  stop_cluster=1
fi
eval "$(bash "$cluster" env)"
# Open MPI's blocking calls (the plain-MPI yardstick) spin; on a machine with more busy processes
# than cores a spinning rank loses its core and the yardstick falls to a third. Yielding keeps it
# honest. The transport never blocks inside MPI, so this does not change the upload's figures.
export OMPI_MCA_mpi_yield_when_idle=1
command="mpirun --host ${prefix}1,${prefix}2 -n 2 $bin bench-network --floats $floats --repeats $repeats"
report=$(mktemp)
trap 'rm -f "$report"; [ -z "${stop_cluster:-}" ] || bash "$cluster" stop >/dev/null' EXIT
{
  echo "$command  (scripts/network-bench.sh on ${prefix}1, $(date +%F), btl tcp,self over the bridge; load average $(cut -d' ' -f1-3 /proc/loadavg))"
  bash "$cluster" exec "${prefix}1" $command 2>&1 | grep -av 'setpgid'
  echo "plain TCP stream between the same hosts (scripts/tcp_stream.py: python sockets, the same bytes, timed to a 1-byte answer, $repeats repeats after one untimed):"
  port=17001
  for count in ${floats//,/ }; do
    bytes=$((count * 4))
    bash "$cluster" exec "${prefix}1" python3 "$root/scripts/tcp_stream.py" receive "$net.1" "$port" &
    receiver=$!
    seconds=$(bash "$cluster" exec "${prefix}2" python3 "$root/scripts/tcp_stream.py" send "$net.1" "$port" "$bytes" "$repeats")
    wait "$receiver"
    echo "$count $seconds"
    port=$((port + 1))
  done
} >"$report"
# The TCP lines, and the upload against them.
python3 - "$report" <<'PY' | if [ -n "${OUT:-}" ]; then tee "$OUT"; else cat; fi
import re, sys
lines = open(sys.argv[1]).read().splitlines()
uploads, out = [], []
for line in lines:
    m = re.match(r"(\d+) (\d+\.\d+)$", line)
    if m:
        count, seconds = int(m[1]), float(m[2])
        upload = uploads.pop(0)
        out.append(f"  block of {count} floats: median {seconds * 1e3:8.3f} ms  {4 * count / seconds / 1e6:7.1f} MB/s;"
                   f" the upload = {100 * seconds / upload:.0f} % of it")
        continue
    m = re.match(r"\s+upload, .* median\s+([\d.]+) ms", line)
    if m:
        uploads.append(float(m[1]) / 1e3)
    out.append(line)
print("\n".join(out))
PY
