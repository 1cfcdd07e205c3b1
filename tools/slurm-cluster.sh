#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the tests marked `slurm`.
#
#   tools/slurm-cluster.sh start    install slurm-wlm and munge when missing, write
#                                   slurm.conf, start munged, slurmctld and slurmd,
#                                   wait until the node is idle
#   tools/slurm-cluster.sh stop     stop the daemons it started, remove their pid files
#   tools/slurm-cluster.sh status   say whether the cluster runs (exit 0) or not (exit 1)
#
# Needs root (apt-get, munged as the `munge` user, slurmd as root). No systemd: the
# daemons are started directly. Everything lives in the state folder
# $AWIML_SLURM_DIR (default /tmp/awiml-slurm): slurm.conf, logs, pid files, spool.
# The client commands (sinfo, squeue, sbatch) find the configuration through
#     export SLURM_CONF=$AWIML_SLURM_DIR/slurm.conf
# which the pytest fixture `slurm_cluster` sets by itself. Both commands are
# idempotent: `start` on a running cluster and `stop` on a stopped one do nothing.
set -euo pipefail

DIR="${AWIML_SLURM_DIR:-/tmp/awiml-slurm}"
CONF="$DIR/slurm.conf"
NODE="awiml-node"
MUNGE_RUN=/run/munge
WAIT_SECONDS="${AWIML_SLURM_WAIT:-60}"
export SLURM_CONF="$CONF"

die() {
    echo "error: $*" >&2
    exit 1
}

need_root() {
    [ "$(id -u)" -eq 0 ] || die "tools/slurm-cluster.sh $1 needs root (it installs \
slurm-wlm and munge with apt-get and starts munged, slurmctld and slurmd). Run it as root, \
or skip the tests marked slurm (pytest -m 'not slurm')."
}

# pid from a pid file when that process is alive, else nothing
alive() {
    local file="$1" pid
    [ -f "$file" ] || return 1
    pid="$(cat "$file" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

install_packages() {
    local missing=()
    command -v slurmd >/dev/null 2>&1 || [ -x /usr/sbin/slurmd ] || missing+=(slurm-wlm)
    command -v munged >/dev/null 2>&1 || [ -x /usr/sbin/munged ] || missing+=(munge)
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "the Debian packages ${missing[*]} are \
missing and apt-get is not available here; install SLURM and munge by hand, or skip the \
tests marked slurm (pytest -m 'not slurm')."
    echo "Installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

write_config() {
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    chmod 755 "$DIR"
    # The hardware slurmd sees, e.g. "NodeName=vm CPUs=2 ... RealMemory=24105".
    local hardware cpus memory advertised
    hardware="$(/usr/sbin/slurmd -C | head -n 1)"
    cpus="$(sed -n 's/.*\bCPUs=\([0-9]*\).*/\1/p' <<<"$hardware")"
    memory="$(sed -n 's/.*\bRealMemory=\([0-9]*\).*/\1/p' <<<"$hardware")"
    [ -n "$cpus" ] && [ -n "$memory" ] || die "could not read CPUs and RealMemory from \
'slurmd -C' (it said: $hardware)"
    # Advertise twice the cores (at least 4), so that two 1-CPU worker jobs and the test
    # process fit on a 2-core machine: a job asking for more CPUs than the node has would
    # wait forever instead of failing. config_overrides lets slurmd accept the difference.
    advertised=$((cpus * 2))
    [ "$advertised" -ge 4 ] || advertised=4
    cat >"$CONF.tmp" <<EOF
# Written by tools/slurm-cluster.sh: a single-node cluster on 127.0.0.1 for awiml's tests.
# Real hardware: $hardware
ClusterName=awiml
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# No cgroups and no systemd here.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# A job without --mem would otherwise take the whole node's memory.
DefMemPerCPU=1024
ReturnToService=2
SlurmdParameters=config_overrides
# No accounting: sacct is absent, squeue and scontrol show the jobs.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Forget finished jobs quickly, so squeue shows only the live ones.
MinJobAge=10
KillWait=5
SlurmdTimeout=30
NodeName=$NODE NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 CPUs=$advertised Sockets=1 CoresPerSocket=$advertised ThreadsPerCore=1 RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

start_munge() {
    if [ -S "$MUNGE_RUN/munge.socket.2" ] && alive "$MUNGE_RUN/munged.pid" >/dev/null; then
        return 0
    fi
    mkdir -p "$MUNGE_RUN" /var/log/munge /var/lib/munge /etc/munge
    chown munge:munge "$MUNGE_RUN" /var/log/munge /var/lib/munge /etc/munge
    chmod 755 "$MUNGE_RUN"
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    rm -f "$MUNGE_RUN/munged.pid"
    runuser -u munge -- /usr/sbin/munged
    touch "$DIR/munged.ours"  # `stop` stops only a munged that `start` started
}

start_daemons() {
    if ! alive "$DIR/slurmctld.pid" >/dev/null; then
        rm -f "$DIR/slurmctld.pid"
        /usr/sbin/slurmctld -f "$CONF"
    fi
    if ! alive "$DIR/slurmd.pid" >/dev/null; then
        rm -f "$DIR/slurmd.pid"
        /usr/sbin/slurmd -f "$CONF" -N "$NODE"
    fi
}

node_state() {
    sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1
}

wait_idle() {
    local waited=0 state=""
    while [ "$waited" -lt "$WAIT_SECONDS" ]; do
        state="$(node_state || true)"
        case "$state" in
            idle | mixed | allocated) return 0 ;;
        esac
        sleep 1
        waited=$((waited + 1))
    done
    echo "error: the SLURM node $NODE is not idle after ${WAIT_SECONDS} s (state: \
${state:-unknown}). The last lines of the logs in $DIR/log:" >&2
    tail -n 5 "$DIR"/log/*.log >&2 || true
    echo "Stop it with tools/slurm-cluster.sh stop and try again." >&2
    exit 1
}

stop_one() {
    local name="$1" file="$2" pid waited=0
    if pid="$(alive "$file")"; then
        kill "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        echo "stopped $name ($pid)"
    fi
    rm -f "$file"  # slurmctld leaves its pid file behind when killed
}

status() {
    local ok=0 name file
    for name in munged slurmctld slurmd; do
        case "$name" in
            munged) file="$MUNGE_RUN/munged.pid" ;;
            *) file="$DIR/$name.pid" ;;
        esac
        if pid="$(alive "$file")"; then
            echo "$name: running ($pid)"
        else
            echo "$name: not running"
            ok=1
        fi
    done
    if [ "$ok" -eq 0 ]; then
        echo "node $NODE: $(node_state || echo unknown)"
        echo "export SLURM_CONF=$CONF"
    fi
    return "$ok"
}

case "${1:-}" in
    start)
        need_root start
        install_packages
        if [ ! -f "$CONF" ] || ! alive "$DIR/slurmctld.pid" >/dev/null; then
            write_config
        fi
        mkdir -p "$DIR"
        start_munge
        start_daemons
        wait_idle
        echo "SLURM runs: node $NODE $(node_state) (state in $DIR)"
        echo "export SLURM_CONF=$CONF"
        ;;
    stop)
        # Jobs first (their processes belong to slurmd), then the daemons.
        if alive "$DIR/slurmctld.pid" >/dev/null; then
            scancel --quiet --full --partition=debug 2>/dev/null || true
        fi
        stop_one slurmd "$DIR/slurmd.pid"
        stop_one slurmctld "$DIR/slurmctld.pid"
        if [ -f "$DIR/munged.ours" ]; then
            stop_one munged "$MUNGE_RUN/munged.pid"
            rm -f "$DIR/munged.ours"
        fi
        ;;
    status)
        status
        ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
