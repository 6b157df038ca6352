#!/usr/bin/env bash
# A Slurm test cluster on this machine for the batch-script tests: munged, slurmctld and either
# one slurmd on localhost (the default) or one slurmd inside each host of the network-namespace
# cluster (FEDCYBGD_SLURM_HOSTS=N), with every file (config, key, state, spool, logs, PIDs) in
# one scratch folder.
#
#   scripts/slurm-cluster.sh start    # (re)starts it and waits until the node is idle
#   scripts/slurm-cluster.sh status   # the daemons' PIDs and the node's state; exit 1 if down
#   scripts/slurm-cluster.sh stop     # cancels its jobs, stops the daemons by PID
#   scripts/slurm-cluster.sh env      # prints 'export SLURM_CONF=...' for eval
#
# Then: export SLURM_CONF=$FEDCYBGD_SLURM_DIR/slurm.conf  (sbatch, squeue, scontrol use it).
#
# Settings (environment): FEDCYBGD_SLURM_DIR (scratch folder, default /tmp/fedcybgd-slurm),
# FEDCYBGD_SLURM_PORT (slurmctld port, default 16817; slurmd uses the next one),
# FEDCYBGD_SLURM_CPUS (CPUs of each node, default nproc).
#
# Several hosts: FEDCYBGD_SLURM_HOSTS=N (default 0: one node on localhost) makes N nodes out of the
# hosts of scripts/netns-cluster.sh (which 'start' starts with N hosts, and 'stop' stops; its
# FEDCYBGD_NETNS_PREFIX, _NET and _DIR settings apply). Node <prefix>I has NodeAddr <net>.I and
# its own slurmd inside the host's network and UTS namespaces, with its own spool folder
# (spool/<node>), PID file and log (log/slurmd-<node>.log); slurmctld runs on this machine and
# listens on every address, so the hosts reach it at the bridge's address <net>.254. Then
# 'sbatch -N 3' allocates across three hosts, and ranks on different hosts talk TCP.
#
# Needs root (slurmd starts jobs as their user; munged runs as the 'munge' user) and Debian's
# slurm-wlm and munge packages (scripts/setup.sh installs them). No systemd is used.
#
# Leftovers of a crashed earlier run are handled: 'start' first stops whatever an earlier start
# in the same folder left running. Every daemon is started with FEDCYBGD_SLURM_CLUSTER=<folder>
# in its environment, so 'stop' also finds daemons whose PID files are gone, and it finds the
# cluster's slurmstepd and job processes too (see cluster_pids); it signals only those PIDs.
set -euo pipefail

DIR=${FEDCYBGD_SLURM_DIR:-/tmp/fedcybgd-slurm}
PORT=${FEDCYBGD_SLURM_PORT:-16817}
CPUS=${FEDCYBGD_SLURM_CPUS:-$(nproc)}
HOSTS=${FEDCYBGD_SLURM_HOSTS:-0}
NETNS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netns-cluster.sh"
NETNS_PREFIX=${FEDCYBGD_NETNS_PREFIX:-fcb}
NETNS_NET=${FEDCYBGD_NETNS_NET:-10.77.0}
NETNS_DIR=${FEDCYBGD_NETNS_DIR:-/tmp/fedcybgd-netns}
CONF="$DIR/slurm.conf"
MUNGE_SOCKET="$DIR/munge/munge.socket.2"
MARKER="FEDCYBGD_SLURM_CLUSTER=$DIR"

say() { echo "slurm-cluster: $*"; }
die() { echo "slurm-cluster: $*" >&2; exit 1; }

need_tools() {
  local t missing=()
  for t in munged slurmctld slurmd sbatch scontrol sinfo squeue scancel setpriv; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || missing+=("$t")
  done
  ((${#missing[@]} == 0)) || die "missing ${missing[*]}: install Debian's 'slurm-wlm munge' (scripts/setup.sh does)"
  [[ "$HOSTS" =~ ^[0-9]+$ ]] || die "FEDCYBGD_SLURM_HOSTS=$HOSTS: give a number of hosts (0: one node on localhost)"
  [ "$(id -u)" -eq 0 ] || die "needs root: slurmd starts jobs as their owner and munged runs as 'munge'"
  id munge >/dev/null 2>&1 || die "no 'munge' user: reinstall Debian's munge package"
}

# PIDs of this cluster's processes, leaving out this script and its ancestors: those that carry
# its marker (the daemons), its slurmstepd processes (they hold its slurmd log open; slurmd gives
# them a clean environment) and the processes of its jobs (SLURM_CONF pointing here and a
# SLURM_JOB_ID in their environment).
cluster_pids() {
  local keep=" " p=$$ proc pid env
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    keep+="$p "
    p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null || true)
  done
  for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    [[ "$keep" == *" $pid "* ]] && continue
    if [ "$(cat "$proc/comm" 2>/dev/null)" = slurmstepd ]; then
      if find "$proc/fd" -maxdepth 1 -lname "$DIR/*" 2>/dev/null | grep -q .; then echo "$pid"; fi
      continue
    fi
    env=$({ tr '\0' '\n' <"$proc/environ"; } 2>/dev/null) || continue
    if grep -qxF "$MARKER" <<<"$env" \
      || { grep -qxF "SLURM_CONF=$CONF" <<<"$env" && grep -q '^SLURM_JOB_ID=' <<<"$env"; }; then
      echo "$pid"
    fi
  done
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# The PID recorded for a daemon, if that process is still the one we started.
recorded_pid() {
  local file="$DIR/pids/$1.pid" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  pid_alive "$pid" && { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "$MARKER" && echo "$pid"
  return 0
}

stop_pids() {  # TERM, then KILL after a few seconds
  local pids=("$@") p
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 50); do
    local left=()
    for p in "${pids[@]}"; do pid_alive "$p" && left+=("$p"); done
    ((${#left[@]})) || return 0
    sleep 0.1
  done
  kill -KILL "${left[@]}" 2>/dev/null || true
}

stop() {
  if [ -f "$CONF" ] && pid_alive "$(recorded_pid slurmctld)"; then
    # Cancel this cluster's jobs first so that no job process outlives the daemons.
    local jobs
    jobs=$(SLURM_CONF="$CONF" timeout 5 squeue -h -o %A 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -n "$jobs" ] && SLURM_CONF="$CONF" timeout 10 scancel --quiet $jobs 2>/dev/null || true
    for _ in $(seq 20); do
      [ -z "$(SLURM_CONF="$CONF" timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  local pids=() name p
  for name in $(daemon_names) slurmctld; do
    p=$(recorded_pid "$name"); [ -n "$p" ] && pids+=("$p")
  done
  stop_pids "${pids[@]}"
  # slurmstepd and job processes left behind (a crashed run, or a job that ignored scancel).
  mapfile -t pids < <(cluster_pids)
  local others=()
  for p in "${pids[@]}"; do [ "$p" != "$(recorded_pid munged)" ] && others+=("$p"); done
  stop_pids "${others[@]}"
  p=$(recorded_pid munged); [ -n "$p" ] && stop_pids "$p"
  rm -f "$DIR"/pids/*.pid
  if ((HOSTS > 0)); then FEDCYBGD_NETNS_HOSTS=$HOSTS bash "$NETNS" stop >/dev/null; fi
  say "stopped (folder $DIR)"
}

# The names the slurmd PID files go by: slurmd, or slurmd-<node> for each namespace host (also
# ones a larger earlier start left).
daemon_names() {
  local file
  echo slurmd
  for file in "$DIR"/pids/slurmd-*.pid; do
    [ -e "$file" ] && [[ "$file" != *.daemon.pid ]] && basename "$file" .pid
  done
  return 0
}

# The nodes: localhost, or the namespace hosts.
node_names() {
  local i
  if ((HOSTS == 0)); then echo localhost; else for i in $(seq "$HOSTS"); do echo "$NETNS_PREFIX$i"; done; fi
}

write_config() {
  mkdir -p "$DIR"/{state,spool,log,pids,munge}
  chown munge:munge "$DIR/munge"; chmod 755 "$DIR" "$DIR/munge"
  if [ ! -s "$DIR/munge/munge.key" ]; then
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chown munge:munge "$DIR/munge/munge.key"; chmod 400 "$DIR/munge/munge.key"
  fi
  cat >"$CONF" <<EOF
# Written by scripts/slurm-cluster.sh: a one-node test cluster on localhost.
ClusterName=fedcybgd-test
SlurmctldHost=$(controller)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=10
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmctldPidFile=$DIR/pids/slurmctld.daemon.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
$(node_files)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=pmix
ReturnToService=2
JobRequeue=1
# scancel and time limits: SIGTERM, then SIGKILL this many seconds later. fedcybgd needs one
# round plus a checkpoint in that time.
KillWait=30
# Completed jobs stay visible to 'scontrol show job' for 10 minutes (requeue counts in tests).
MinJobAge=600
# Look at pending jobs every 5 s, not 60: a requeued job starts again about cred_expire + 5 s later.
SchedulerParameters=sched_interval=5
$(node_lines)
$(dead_node_timeout)
# Preemption: a job in 'urgent' takes the nodes of jobs in 'debug', which Slurm requeues (after
# SIGTERM, and SIGKILL KillWait seconds later).
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
PartitionName=debug Nodes=$(node_names | paste -sd,) Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=urgent Nodes=$(node_names | paste -sd,) MaxTime=INFINITE State=UP PriorityTier=2
EOF
}

# slurmctld runs here; the namespace hosts reach it at the bridge's address.
controller() {
  if ((HOSTS == 0)); then echo localhost; else echo "localhost($NETNS_NET.254)"; fi
}

# Spool, PID and log file per node (%n: the node's name) when there are several.
node_files() {
  if ((HOSTS == 0)); then
    printf '%s\n' "SlurmdSpoolDir=$DIR/spool" "SlurmdPidFile=$DIR/pids/slurmd.daemon.pid" "SlurmdLogFile=$DIR/log/slurmd.log"
  else
    # TmpFS too: the PMIx plugin makes its per-step folders there (by default in /tmp, which the
    # hosts share, so the second host's step fails with "File exists").
    printf '%s\n' "SlurmdSpoolDir=$DIR/spool/%n" "SlurmdPidFile=$DIR/pids/slurmd-%n.daemon.pid" \
      "SlurmdLogFile=$DIR/log/slurmd-%n.log" "TmpFS=$DIR/tmp/%n"
  fi
}

# With several hosts, one may die (the tests kill one): mark an unresponsive node down after 20 s
# instead of Slurm's 300, so that its jobs finish, requeue and start elsewhere soon.
dead_node_timeout() {
  if ((HOSTS > 0)); then echo "SlurmdTimeout=20"; fi
}

node_lines() {
  local i
  if ((HOSTS == 0)); then echo "NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN"; return; fi
  for i in $(seq "$HOSTS"); do echo "NodeName=$NETNS_PREFIX$i NodeAddr=$NETNS_NET.$i CPUs=$CPUS State=UNKNOWN"; done
}

# "idle" once every node is idle, else the first state that is not.
node_state() {
  local states
  states=$(SLURM_CONF="$CONF" timeout 5 sinfo -h -N -o %T 2>/dev/null | sort -u)
  if [ "$states" = idle ]; then echo idle; else echo "$states" | grep -vx idle | head -1; fi
}

# One slurmd on localhost, or one in each namespace host: in its network and UTS namespaces, by
# nsenter (which execs, so $! is slurmd's own PID). Not through 'netns-cluster.sh exec': that
# mounts a fresh /sys, where slurmd finds no cgroup file system and will not start.
start_slurmds() {
  local node
  if ((HOSTS == 0)); then
    setsid slurmd -D -N localhost -f "$CONF" </dev/null >>"$DIR/log/slurmd.out" 2>&1 &
    echo $! >"$DIR/pids/slurmd.pid"
    return
  fi
  for node in $(node_names); do
    mkdir -p "$DIR/spool/$node" "$DIR/tmp/$node"
    PMIX_MCA_gds=hash setsid nsenter --net="/run/netns/$node" --uts="$NETNS_DIR/uts/$node.uts" -- slurmd -D -N "$node" -f "$CONF" \
      </dev/null >>"$DIR/log/slurmd-$node.out" 2>&1 &
    echo $! >"$DIR/pids/slurmd-$node.pid"
  done
}

start() {
  need_tools
  stop >/dev/null
  if ((HOSTS > 0)); then FEDCYBGD_NETNS_HOSTS=$HOSTS bash "$NETNS" start >/dev/null; fi
  # A fresh cluster: no jobs from an earlier run, and no PMIx step folders a dead host left (job
  # numbers start again at 1, and a leftover folder fails the new step with "File exists").
  rm -rf "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/tmp"
  write_config
  export FEDCYBGD_SLURM_CLUSTER="$DIR" SLURM_CONF="$CONF"
  # setpriv execs munged directly, so $! is munged's own PID.
  setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground \
    --socket="$MUNGE_SOCKET" --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/munged.pid" \
    --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" \
    </dev/null >>"$DIR/log/munged.out" 2>&1 &
  echo $! >"$DIR/pids/munged.pid"
  for _ in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
  [ -S "$MUNGE_SOCKET" ] || { cat "$DIR/log/munged.out" "$DIR/munge/munged.log" 2>/dev/null >&2; die "munged did not start"; }
  setsid slurmctld -D -i -f "$CONF" </dev/null >>"$DIR/log/slurmctld.out" 2>&1 &
  echo $! >"$DIR/pids/slurmctld.pid"
  start_slurmds
  local state=""
  for _ in $(seq 60); do
    state=$(node_state)
    case "$state" in idle) break ;; esac
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    tail -n 20 "$DIR"/log/*.log "$DIR"/log/*.out >&2 2>/dev/null || true
    stop >/dev/null
    die "the node did not become idle (state '${state:-unknown}')"
  fi
  say "up: $(node_names | paste -sd' ') idle with $CPUS CPUs each; export SLURM_CONF=$CONF"
}

status() {
  local name p up=0
  local names=(munged slurmctld) node
  if ((HOSTS == 0)); then names+=(slurmd); else for node in $(node_names); do names+=("slurmd-$node"); done; fi
  for name in "${names[@]}"; do
    p=$(recorded_pid "$name")
    if [ -n "$p" ]; then echo "$name: running, PID $p"; up=$((up + 1)); else echo "$name: not running"; fi
  done
  if ((up == ${#names[@]})); then
    echo "node: $(node_state)"
    echo "SLURM_CONF=$CONF"
    return 0
  fi
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
