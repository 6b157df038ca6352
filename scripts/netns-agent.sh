#!/usr/bin/env bash
# Open MPI's launcher agent (`plm_rsh_agent`) for the hosts of scripts/netns-cluster.sh: it
# does what `ssh HOST COMMAND` would, with no sshd: runs COMMAND through sh inside HOST's
# network and UTS namespaces. Open MPI calls it as `netns-agent.sh [options] HOST WORD...`
# and, as with ssh, the words are joined into one shell command line.
set -euo pipefail
while [ $# -gt 0 ] && [[ "$1" == -* ]]; do shift; done  # ssh-style options (-x, -T) mean nothing here
[ $# -ge 2 ] || { echo "netns-agent: usage: $0 HOST COMMAND..." >&2; exit 2; }
host=$1; shift
dir=${FEDCYBGD_NETNS_DIR:-/tmp/fedcybgd-netns}
[ -e "/run/netns/$host" ] && [ -e "$dir/uts/$host.uts" ] \
  || { echo "netns-agent: no host '$host': start it with scripts/netns-cluster.sh start" >&2; exit 255; }
exec ip netns exec "$host" nsenter --uts="$dir/uts/$host.uts" -- sh -c "$*"
