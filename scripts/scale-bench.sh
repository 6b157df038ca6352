#!/usr/bin/env bash
# Scale, by measurement (docs/PERFORMANCE.md, "Scale"): FedCyBGD at GPT-2-small shape (12 x 768,
# 12 heads, vocabulary 50,257) with 64, 256 and 1,024 virtual clients on 4 ranks, on one host
# (scripts/mpirun.sh, shared memory) and across hosts of the namespace cluster
# (scripts/netns-cluster.sh: 2 hosts x 2 ranks, 4 hosts x 1 rank, TCP over the bridge). Each run
# is a few one-step rounds of k clients; history.h5 gives per round rank 0's compute seconds, its
# CPU seconds and the bytes broadcast, and each rank's peak RSS. The table shows how they grow
# with the clients N (the goal: with k x block size, not with N) and with the hosts.
#   scripts/scale-bench.sh            (OUT=file also writes the table there, first line the command)
# Settings: FEDCYBGD_BIN (skip the build), KEEP (keep the runs' checkpoints; by default only their size is kept), NOTE (a line for the file, e.g. that the machine was shared), RUNS (where the runs go, default a temporary folder),
# CLIENTS (default "64 256 1024"), LAYOUTS (hosts x ranks per host, default "1x4 2x2 4x1"),
# PARTITION ("iid", the default, or "dirichlet"), ROUNDS (default 6), K (clients_per_round,
# default 4), EXTRA_K (default 8: one more run, the most clients on the first layout with this k;
# empty: none), and the cluster's FEDCYBGD_NETNS_PREFIX (default "fcs"), FEDCYBGD_NETNS_NET
# (default 10.78.0) and FEDCYBGD_NETNS_DIR (default /tmp/fedcybgd-scale-netns), so that it does
# not meet the tests' cluster. The cluster is started for the multi-host layouts and stopped at
# the end. Needs root (the namespaces). About 6 minutes on 2 idle cores.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "scale-bench: needs root (the namespace cluster); run it as root" >&2; exit 1; }
if [ -n "${FEDCYBGD_BIN:-}" ]; then bin=$FEDCYBGD_BIN; else
  (cd "$root" && swift build -c release --product fedcybgd >/dev/null); bin="$root/.build/release/fedcybgd"; fi
if [ -n "${RUNS:-}" ]; then runs=$RUNS; else runs=$(mktemp -d); remove_runs=1; fi
mkdir -p "$runs"
clients_list=${CLIENTS:-64 256 1024}
layouts=${LAYOUTS:-1x4 2x2 4x1}
partition=${PARTITION:-iid}
rounds=${ROUNDS:-6}
k=${K:-4}
extra_k=${EXTRA_K-8}
case "$partition" in iid|dirichlet) ;; *) echo "scale-bench: PARTITION=$partition: use iid or dirichlet" >&2; exit 1 ;; esac
export FEDCYBGD_NETNS_PREFIX=${FEDCYBGD_NETNS_PREFIX:-fcs}
export FEDCYBGD_NETNS_NET=${FEDCYBGD_NETNS_NET:-10.78.0}
export FEDCYBGD_NETNS_DIR=${FEDCYBGD_NETNS_DIR:-/tmp/fedcybgd-scale-netns}
cluster="$root/scripts/netns-cluster.sh"
prefix=$FEDCYBGD_NETNS_PREFIX

# The job: GPT-2-small shape; the byte tokenizer never uses ids above 255, which changes nothing
# the server or the wire does with the embedding block.
write_job() {  # name clients k
  cat <<EOF
name = "$1"
output = "$runs"
seed = 7

[model]
layers = 12
width = 768
heads = 12
vocab = 50257
context = 64

[data]
corpus = "/usr/share/games/fortunes"
partition = "$partition"
clients = $2

[train]
algorithm = "fedcybgd"
rounds = $rounds
clients_per_round = $3
local_steps = 1
batch = 2
sequence = 64
learning_rate = 1e-4
eval_batches = 1
keep_checkpoints = 1
EOF
}

hosts_needed=1
for layout in $layouts; do
  [[ "$layout" =~ ^([0-9]+)x([0-9]+)$ ]] || { echo "scale-bench: LAYOUTS entry '$layout': write HOSTSxRANKS, e.g. 2x2" >&2; exit 1; }
  if ((BASH_REMATCH[1] > hosts_needed)); then hosts_needed=${BASH_REMATCH[1]}; fi
done
trap '[ -z "${remove_runs:-}" ] || rm -rf "$runs"; ((hosts_needed == 1)) || bash "$cluster" stop >/dev/null 2>&1 || true' EXIT
if ((hosts_needed > 1)); then
  FEDCYBGD_NETNS_HOSTS=$hosts_needed bash "$cluster" start >/dev/null
  eval "$(bash "$cluster" env)"
fi

# mpirun's --host list for H hosts of R ranks each: fcs1:R,fcs2:R,... (ranks fill a host in turn).
host_list() { local i list=(); for i in $(seq "$1"); do list+=("$prefix$i:$2"); done; local IFS=,; echo "${list[*]}"; }

# One run: name clients k hosts ranks-per-host.
run() {
  local name=$1 hosts=$4 per_host=$5 command
  write_job "$name" "$2" "$3" >"$runs/$name.toml"
  if ((hosts == 1)); then
    command=(bash "$root/scripts/mpirun.sh" -n "$((hosts * per_host))" "$bin" train "$runs/$name.toml" --replace)
  else
    command=(bash "$cluster" exec "${prefix}1" mpirun --host "$(host_list "$hosts" "$per_host")" -n "$((hosts * per_host))"
             "$bin" train "$runs/$name.toml" --replace)
  fi
  "${command[@]}" >"$runs/$name.log" 2>&1 || { echo "scale-bench: $name failed; see $runs/$name.log" >&2; exit 1; }
  # The table needs the checkpoint's size, not its 0.5 GB.
  local newest; newest=$(ls "$runs/$name"/checkpoint-*.h5 | sort | tail -1)
  stat -c %s "$newest" >"$runs/$name/checkpoint-bytes"
  [ -n "${KEEP:-}" ] || rm -f "$runs/$name"/checkpoint-*.h5
  echo "scale-bench: $name done ($(($(date +%s) - started)) s so far)" >&2
}

started=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for layout in $layouts; do
  hosts=${layout%x*} per_host=${layout#*x}
  for n in $clients_list; do
    name="scale-$n-${hosts}x$per_host"
    run "$name" "$n" "$k" "$hosts" "$per_host"
  done
done
# Server work against k: the most clients on the first layout once more, with k = EXTRA_K.
if [ -n "$extra_k" ]; then
  layout=${layouts%% *}
  run "scale-${clients_list##* }-$layout-k$extra_k" "${clients_list##* }" "$extra_k" "${layout%x*}" "${layout#*x}"
fi

table=$(python3 "$root/scripts/scale_table.py" "$runs" "$partition" "$k" "$clients_list" "$layouts" "$extra_k")
echo "$table"
if [ -n "${OUT:-}" ]; then
  { echo "scripts/scale-bench.sh (CLIENTS=\"$clients_list\" LAYOUTS=\"$layouts\" PARTITION=$partition ROUNDS=$rounds K=$k EXTRA_K=$extra_k), $(date -u +%Y-%m-%d), load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
    "$bin" bench --sgemm-only --layers 1 --width 32 --heads 2 --vocab 64 --sequence 16 --batch 2 2>/dev/null | grep -E '^cpu: '
    [ -z "${NOTE:-}" ] || echo "$NOTE"
    echo "$table"; } >"$OUT"
  echo "written to $OUT"
fi
