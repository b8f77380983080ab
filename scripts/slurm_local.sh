#!/usr/bin/env bash
# scripts/slurm_local.sh [start|stop|status]
#
# A one-node Slurm cluster on this machine, for tests and for trying
# `soundclass sweep submit --slurm` without a cluster: installs Debian's
# slurmctld, slurmd, slurm-client and munge if missing, writes
# /etc/slurm/slurm.conf for this host (its CPUs and memory as `slurmd -C`
# reports them, one partition `local`), creates a munge key, and starts
# munged, slurmctld and slurmd. Idempotent; needs root (CI runs it).
# `stop` ends the daemons; `status` shows sinfo.
set -euo pipefail
cmd=${1:-start}
host=$(hostname -s)

stop() {
  for daemon in slurmd slurmctld munged; do
    pkill -x "$daemon" 2>/dev/null || true
  done
}

if [ "$cmd" = stop ]; then
  if ! grep -qF "# Written by soundclass scripts/slurm_local.sh" /etc/slurm/slurm.conf 2>/dev/null; then
    echo "$0: this Slurm was not started by this script; not stopping it" >&2
    exit 2
  fi
  stop; exit 0
fi
if [ "$cmd" = status ]; then sinfo; exit 0; fi
if [ "$cmd" != start ]; then echo "usage: $0 [start|stop|status]" >&2; exit 2; fi
if [ "$(id -u)" != 0 ]; then echo "$0: needs root (installs packages, starts daemons)" >&2; exit 2; fi

need=()
for pkg in slurmctld slurmd slurm-client munge; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# munge: a key, its run folder, the daemon (as the munge user).
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged
fi

# Never overwrite a real cluster's configuration: only our own.
marker="# Written by soundclass scripts/slurm_local.sh"
if [ -s /etc/slurm/slurm.conf ] && ! grep -qF "$marker" /etc/slurm/slurm.conf; then
  echo "$0: /etc/slurm/slurm.conf exists and was not written by this script; refusing to replace it" >&2
  exit 2
fi

# The node as slurmd sees it (CPUs, sockets, cores, memory).
node=$(slurmd -C | head -1 | sed 's/ UpTime=.*//')
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
$marker: one node, root daemons.
ClusterName=soundclass
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=30
MinJobAge=600
$node State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 60); do
  state=$(sinfo --noheader --nodes="$host" --format=%T 2>/dev/null || true)
  case "$state" in
    idle*|mixed*|allocated*) echo "slurm: node $host $state"; exit 0 ;;
    down*|drain*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
  esac
  sleep 1
done
echo "slurm did not come up; logs in /var/log/slurm/" >&2
tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
