#!/usr/bin/env bash
# A cluster of N "hosts" on this one machine, for multi-host MPI and Slurm tests: each host is a
# network namespace with its own address on a bridge (through a veth pair), its own hostname
# (a UTS namespace) and its own loopback. Ranks on different hosts talk TCP over the bridge, as
# they would between machines; Open MPI reaches the hosts without sshd through
# scripts/netns-agent.sh (its `plm_rsh_agent`).
#
#   scripts/netns-cluster.sh start    # (re)creates the hosts; cleans a crashed start's leftovers first
#   scripts/netns-cluster.sh status   # hosts, addresses, link states; exit 1 if any is missing
#   scripts/netns-cluster.sh stop     # kills the hosts' processes, removes exactly what start made
#   scripts/netns-cluster.sh env      # prints the exports mpirun needs, for eval
#   scripts/netns-cluster.sh exec HOST CMD...   # runs CMD on HOST (its namespaces)
#   scripts/netns-cluster.sh kill HOST          # SIGKILLs every process on HOST ("the host dies")
#
# Then, e.g. (mpirun on the first host, as on a cluster's first node; its ranks there start
# directly, the others through the agent):
#   eval "$(scripts/netns-cluster.sh env)"
#   scripts/netns-cluster.sh exec fcb1 mpirun --hostfile "$FEDCYBGD_NETNS_HOSTFILE" -n 6 \
#     .build/release/fedcybgd train jobs/demo.toml
# (plain `mpirun` from this machine's own namespace works too, over the bridge's address.)
# (`env` sets OMPI_MCA_* so that mpirun launches through the agent, allows root, and moves
# MPI traffic between hosts over TCP on the bridge's subnet: btl tcp,self; oob and btl_tcp
# restricted to the subnet; and btl_tcp_eager_limit = btl_tcp_rndv_eager_limit = 256 KiB, so a
# block of up to 256 KiB, e.g. a width-64 layer's 0.2 MB upload, goes in one message instead of
# a rendezvous: about 20 % faster for such blocks, larger ones unchanged, docs/PERFORMANCE.md;
# either set in the caller's environment wins, e.g. 65536, Open MPI's default, to compare.)
#
# Settings (environment): FEDCYBGD_NETNS_HOSTS (number of hosts, default 3),
# FEDCYBGD_NETNS_SLOTS (MPI slots per host in the hostfile, default 2),
# FEDCYBGD_NETNS_PREFIX (name prefix of hosts, namespaces and links, default "fcb"; hosts are
# <prefix>1..<prefix>N, the bridge <prefix>-br, the veths' outer ends <prefix>-v1..),
# FEDCYBGD_NETNS_NET (first three octets of the /24 subnet, default 10.77.0; host i gets .i,
# the bridge .254), FEDCYBGD_NETNS_DIR (hostfile, UTS namespace files, default
# /tmp/fedcybgd-netns), FEDCYBGD_NETNS_TCP_RETRIES (the hosts' net.ipv4.tcp_retries2, default
# 6: a connection to a host whose link is gone fails after about 25 s instead of Linux's
# 15 min; mpirun's teardown after a job ends waits that long for a dead host's daemon).
#
# Needs root (namespaces, links) and iproute2 and util-linux (ip, unshare, nsenter).
#
# What start makes, all by name: namespaces <prefix>1..N, the bridge <prefix>-br with address
# .254, veth pairs <prefix>-vI (outside, on the bridge) / eth0 (inside host I), one UTS namespace
# file per host under $DIR/uts (on a private bind mount of that folder), and $DIR/hostfile.
# 'stop' removes those, after killing every process inside the hosts' network namespaces.
# 'start' runs 'stop' first and also removes hosts numbered above N left by a larger start.
set -euo pipefail

HOSTS=${FEDCYBGD_NETNS_HOSTS:-3}
SLOTS=${FEDCYBGD_NETNS_SLOTS:-2}
TCP_RETRIES=${FEDCYBGD_NETNS_TCP_RETRIES:-6}
PREFIX=${FEDCYBGD_NETNS_PREFIX:-fcb}
NET=${FEDCYBGD_NETNS_NET:-10.77.0}
DIR=${FEDCYBGD_NETNS_DIR:-/tmp/fedcybgd-netns}
BRIDGE="$PREFIX-br"
UTS="$DIR/uts"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { echo "netns-cluster: $*"; }
die() { echo "netns-cluster: $*" >&2; exit 1; }

need_tools() {
  local t missing=()
  for t in ip unshare nsenter hostname mountpoint; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  ((${#missing[@]} == 0)) || die "missing ${missing[*]}: install Debian's 'iproute2 util-linux'"
  [ "$(id -u)" -eq 0 ] || die "needs root: network namespaces, veth pairs and bridges are root's"
  [[ "$HOSTS" =~ ^[0-9]+$ ]] && ((HOSTS >= 1 && HOSTS <= 250)) || die "FEDCYBGD_NETNS_HOSTS=$HOSTS: give a number from 1 to 250"
  [[ "$SLOTS" =~ ^[0-9]+$ ]] && ((SLOTS >= 1)) || die "FEDCYBGD_NETNS_SLOTS=$SLOTS: give a positive number"
  ((${#PREFIX} <= 10)) || die "FEDCYBGD_NETNS_PREFIX=$PREFIX is too long: interface names have 15 characters, use at most 10"
}

host_name() { echo "$PREFIX$1"; }

# Hosts of this prefix that exist now, as namespace names (also ones above $HOSTS).
existing_hosts() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${PREFIX}[0-9]+$" || true
}

# Every process whose network namespace is one of our hosts', leaving out this script's own.
host_pids() {
  local name
  for name in "$@"; do ip netns pids "$name" 2>/dev/null || true; done | grep -vx "$$" || true
}

kill_hosts() {  # TERM, then KILL after up to 3 s
  local pids
  mapfile -t pids < <(host_pids "$@")
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 30); do
    mapfile -t pids < <(host_pids "$@")
    ((${#pids[@]})) || return 0
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  sleep 0.2
}

stop() {
  local hosts name number
  mapfile -t hosts < <(existing_hosts)
  kill_hosts "${hosts[@]}"
  for name in "${hosts[@]}"; do
    number=${name#"$PREFIX"}
    ip link del "$PREFIX-v$number" 2>/dev/null || true
    ip netns del "$name" 2>/dev/null || true
  done
  # Outer veth ends whose namespace is already gone.
  for name in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^${PREFIX}-v[0-9]+$" || true); do
    ip link del "$name" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  if [ -d "$UTS" ]; then
    for name in "$UTS"/*.uts; do
      [ -e "$name" ] || continue
      mountpoint -q "$name" && umount "$name" 2>/dev/null || umount -l "$name" 2>/dev/null || true
      rm -f "$name"
    done
    mountpoint -q "$UTS" && { umount "$UTS" 2>/dev/null || umount -l "$UTS"; }
    rmdir "$UTS" 2>/dev/null || true
  fi
  rm -f "$DIR/hostfile" "$DIR/hosts"
  say "stopped (no namespaces, links or mounts named $PREFIX* left)"
}

# Runs "$@" on host $1: in its network namespace (ip netns exec also remounts /sys, so
# /sys/class/net shows the host's own interfaces) and its UTS namespace (its hostname).
on_host() {
  local name=$1; shift
  [ -e "/run/netns/$name" ] || die "no host '$name': start the cluster (hosts: $(existing_hosts | tr '\n' ' '))"
  exec ip netns exec "$name" nsenter --uts="$UTS/$name.uts" -- "$@"
}

# Whether host $1 reaches address $2: a TCP connect to a closed port is refused at once when the
# path works and times out when it does not.
reachable() {
  local out
  out=$(ip netns exec "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$2/9" 2>&1) && return 0
  [[ "$out" == *"refused"* ]]
}

start() {
  need_tools
  stop >/dev/null
  mkdir -p "$UTS"
  # UTS namespace files are bind mounts; they need a private mount to live on.
  mount --bind "$UTS" "$UTS"
  mount --make-private "$UTS"
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.254/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  : >"$DIR/hostfile"
  : >"$DIR/hosts"
  local i name
  for i in $(seq "$HOSTS"); do
    name=$(host_name "$i")
    ip netns add "$name"
    ip link add "$PREFIX-v$i" type veth peer name eth0 netns "$name"
    ip link set "$PREFIX-v$i" master "$BRIDGE" up
    ip -n "$name" addr add "$NET.$i/24" dev eth0
    ip -n "$name" link set eth0 up
    ip -n "$name" link set lo up
    # /proc/sys/net is per network namespace: this changes the host, not the machine.
    ip netns exec "$name" sh -c "echo $TCP_RETRIES >/proc/sys/net/ipv4/tcp_retries2"
    touch "$UTS/$name.uts"
    unshare --uts="$UTS/$name.uts" hostname "$name"
    echo "$name slots=$SLOTS" >>"$DIR/hostfile"
    echo "$NET.$i $name" >>"$DIR/hosts"
  done
  # Every host reaches the bridge (a closed port answers with a reset at once; no answer means
  # the path is broken).
  for i in $(seq "$HOSTS"); do
    name=$(host_name "$i")
    reachable "$name" "$NET.254" || { stop >/dev/null; die "host $name cannot reach the bridge at $NET.254 (a firewall on bridges, e.g. br_netfilter?)"; }
  done
  say "up: $HOSTS hosts ($(existing_hosts | sort -V | tr "\n" " " | sed "s/ $//")) on $NET.0/24, bridge $BRIDGE at $NET.254; hostfile $DIR/hostfile"
}

status() {
  local i name ok=0 state
  ip link show "$BRIDGE" >/dev/null 2>&1 && echo "bridge $BRIDGE: $NET.254/24" || { echo "bridge $BRIDGE: missing"; ok=1; }
  for i in $(seq "$HOSTS"); do
    name=$(host_name "$i")
    if [ -e "/run/netns/$name" ] && [ -e "$UTS/$name.uts" ]; then
      state=$(ip -n "$name" -o link show eth0 2>/dev/null | grep -o 'state [A-Z]*' || echo "state missing")
      echo "host $name: $NET.$i, eth0 $state, hostname $(nsenter --uts="$UTS/$name.uts" hostname), $(host_pids "$name" | wc -l) processes"
    else
      echo "host $name: missing"; ok=1
    fi
  done
  return "$ok"
}

env_lines() {
  cat <<EOF
export FEDCYBGD_NETNS_DIR=$DIR
export FEDCYBGD_NETNS_HOSTFILE=$DIR/hostfile
export OMPI_MCA_plm_rsh_agent=$HERE/netns-agent.sh
export OMPI_MCA_plm_rsh_no_tree_spawn=1
export OMPI_MCA_btl=tcp,self
export OMPI_MCA_btl_tcp_if_include=$NET.0/24
export OMPI_MCA_oob_tcp_if_include=$NET.0/24
export OMPI_MCA_btl_tcp_eager_limit=${OMPI_MCA_btl_tcp_eager_limit:-262144}
export OMPI_MCA_btl_tcp_rndv_eager_limit=${OMPI_MCA_btl_tcp_rndv_eager_limit:-262144}
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
EOF
}

case "${1:-}" in
  start) start ;;
  stop) [ "$(id -u)" -eq 0 ] || die "needs root"; stop ;;
  status) status ;;
  env) env_lines ;;
  exec) shift; (($# >= 2)) || die "usage: $0 exec HOST COMMAND..."; on_host "$@" ;;
  kill) shift; (($# == 1)) || die "usage: $0 kill HOST"; host_pids "$1" | xargs -r kill -KILL; say "killed every process on $1" ;;
  *) echo "usage: $0 start|status|stop|env|exec HOST CMD...|kill HOST" >&2; exit 2 ;;
esac
