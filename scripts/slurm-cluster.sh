#!/usr/bin/env bash
# A single-node Slurm "cluster" on localhost for the batch-script tests: munged, slurmctld and
# slurmd, with every file (config, key, state, spool, logs, PIDs) in one scratch folder.
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
# FEDCYBGD_SLURM_CPUS (CPUs of the node, default nproc).
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
  for name in slurmd slurmctld; do
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
  say "stopped (folder $DIR)"
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
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=10
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/pids/slurmctld.daemon.pid
SlurmdPidFile=$DIR/pids/slurmd.daemon.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
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
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

node_state() {
  SLURM_CONF="$CONF" timeout 5 sinfo -h -n localhost -o %T 2>/dev/null | head -1
}

start() {
  need_tools
  stop >/dev/null
  rm -rf "$DIR/state" "$DIR/spool" "$DIR/log"  # a fresh cluster: no jobs from an earlier run
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
  setsid slurmd -D -N localhost -f "$CONF" </dev/null >>"$DIR/log/slurmd.out" 2>&1 &
  echo $! >"$DIR/pids/slurmd.pid"
  local state=""
  for _ in $(seq 60); do
    state=$(node_state)
    case "$state" in idle) break ;; esac
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" "$DIR"/log/*.out >&2 2>/dev/null || true
    stop >/dev/null
    die "the node did not become idle (state '${state:-unknown}')"
  fi
  say "up: node localhost idle with $CPUS CPUs; export SLURM_CONF=$CONF"
}

status() {
  local name p up=0
  for name in munged slurmctld slurmd; do
    p=$(recorded_pid "$name")
    if [ -n "$p" ]; then echo "$name: running, PID $p"; up=$((up + 1)); else echo "$name: not running"; fi
  done
  if ((up == 3)); then
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
