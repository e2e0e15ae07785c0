#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the tests marked `slurm` (and for trying the README's recipes).
#
#   tools/slurm_local.sh start    install slurm-wlm + munge (apt-get, once), write the config, start munged,
#                                 slurmctld and slurmd, wait until `sinfo` shows the node idle
#   tools/slurm_local.sh stop     stop the daemons this script started (and nothing else); with
#                                 SLURM_LOCAL_OWNED=FILE, those that `start` recorded in FILE
#   tools/slurm_local.sh status   what runs, and sinfo
#
# Needs root (apt-get, daemons). Idempotent: `start` on a running cluster only checks it. An existing
# /etc/slurm/slurm.conf that this script did not write is never replaced: the script stops instead.
# The node is `hostname -s` with the CPUs and memory `slurmd -C` detects; proctrack/linuxproc and task/none
# (no cgroups needed), cons_tres with CR_Core_Memory (jobs are placed by cores and memory). No accounting
# database: `sacct` is unavailable here (ketamine-fc-slurm --status then reads its own task records).
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by ketamine-fc tools/slurm_local.sh"
STATE=${SLURM_LOCAL_STATE:-/var/lib/slurm-local}
LOGS=/var/log/slurm-local
RUN=/run/slurm-local
# one line per daemon `start` started (name pid), which `stop` stops; CI gives each run a file of its own so that
# its `stop` leaves alone a cluster that was already running before it
OWNED=${SLURM_LOCAL_OWNED:-$STATE/started}

log() { echo "slurm_local: $*" >&2; }
die() { log "$*"; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || die "run as root (installs packages and starts daemons)"; }

running() {  # running NAME: a live process of that exact command name (a dying or zombie one does not count)
  local pid
  for pid in $(pgrep -x "$1" 2>/dev/null); do
    [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" == [RSDIT]* ]] && return 0
  done
  return 1
}

install_packages() {
  local missing=()
  command -v slurmctld >/dev/null || missing+=(slurmctld)
  command -v slurmd >/dev/null || missing+=(slurmd)
  command -v sinfo >/dev/null || missing+=(slurm-client)
  command -v munged >/dev/null || missing+=(munge)
  command -v mungekey >/dev/null || missing+=(munge)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing slurm-wlm munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # a fresh machine may have no package lists yet; refresh once if the install cannot find the packages
    apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null; }
  fi
}

write_config() {
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script; not touching an existing Slurm installation"
  fi
  local host node
  host=$(hostname -s)
  # slurmd -C prints this node as slurmd sees it: NodeName=... CPUs=... RealMemory=...
  node=$(slurmd -C | head -n 1)
  [[ "$node" == NodeName=* ]] || die "slurmd -C did not describe this node: $node"
  node="${node/NodeName=* CPUs/NodeName=$host CPUs}"
  mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" "$LOGS" "$RUN"
  local tmp="$CONF.tmp.$$"
  cat >"$tmp" <<EOF
$MARK
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  if [ -f "$CONF" ] && cmp -s "$tmp" "$CONF"; then
    rm -f "$tmp"
  else
    mv "$tmp" "$CONF"
    log "wrote $CONF ($node)"
  fi
}

own() { mkdir -p "$(dirname "$OWNED")"; echo "$1 $2" >>"$OWNED"; }

pid_of() { pgrep -x "$1" | head -n 1; }

start_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating a munge key"
    mkdir -p /etc/munge
    mungekey -c -k /etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 0400 /etc/munge/munge.key
  if running munged; then
    return
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  chmod 0755 /run/munge
  rm -f /run/munge/munged.pid  # a stale one would pass for the new daemon's
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
  else
    /usr/sbin/munged --force
  fi
  for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  running munged || die "munged did not start (see /var/log/munge/munged.log)"
  own munged "$(cat /run/munge/munged.pid 2>/dev/null || pid_of munged)"
  munge -n | unmunge >/dev/null || die "munge does not work"
}

start_daemon() {  # start_daemon NAME: start slurmctld or slurmd unless it runs, and record it
  local name=$1
  running "$name" && return
  rm -f "$RUN/$name.pid"
  "$name" || die "$name did not start (see $LOGS/$name.log)"
  for _ in $(seq 50); do [ -s "$RUN/$name.pid" ] && break; sleep 0.2; done
  running "$name" || die "$name did not start (see $LOGS/$name.log)"
  own "$name" "$(cat "$RUN/$name.pid" 2>/dev/null || pid_of "$name")"
}

start_slurm() {
  start_daemon slurmctld
  start_daemon slurmd
  local host state="" deadline=$((SECONDS + 90))
  host=$(hostname -s)
  while [ "$SECONDS" -lt "$deadline" ]; do
    for name in slurmctld slurmd; do running "$name" || die "$name stopped (see $LOGS/$name.log)"; done
    state=$(timeout 15 sinfo -h -N -n "$host" -o %t 2>/dev/null | head -n 1 || true)
    case "$state" in
      idle|mix|alloc) break ;;
      drain*|down*) scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  case "$state" in
    idle|mix|alloc) log "node $host is $state"; sinfo ;;
    *) die "node $host did not become idle (state '$state'; see $LOGS/)" ;;
  esac
}

stop() {
  [ -f "$OWNED" ] || { log "nothing was started by this script"; return 0; }
  # slurmd before slurmctld before munged: the reverse order of start
  for name in slurmd slurmctld munged; do
    while read -r n pid; do
      [ "$n" = "$name" ] && [ -n "$pid" ] || continue
      if [ "$(ps -p "$pid" -o comm= 2>/dev/null)" = "$name" ]; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        log "stopped $name ($pid)"
      fi
    done <"$OWNED"
  done
  rm -f "$OWNED"
}

status() {
  for name in munged slurmctld slurmd; do
    if running "$name"; then echo "$name: running (pid $(pgrep -x "$name" | tr '\n' ' '))"; else echo "$name: not running"; fi
  done
  [ -f "$OWNED" ] && echo "started by this script: $(tr '\n' ' ' <"$OWNED")"
  command -v sinfo >/dev/null && sinfo 2>&1 || true
}

case "${1:-}" in
  start)
    need_root
    mkdir -p "$STATE"
    install_packages
    write_config
    start_munge
    start_slurm
    ;;
  stop) need_root; stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
