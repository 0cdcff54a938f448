#!/usr/bin/env bash
# A real SLURM scheduler on this one machine, for `make cluster-test`: Debian's slurm-wlm with
# munge authentication and job accounting (slurmdbd on MariaDB, so that `sacct` sees every job).
#
#   bash workflow/cluster/one_node_slurm.sh install # install what is missing (apt), nothing more
#   bash workflow/cluster/one_node_slurm.sh start   # install what is missing, configure, start, wait until idle
#   bash workflow/cluster/one_node_slurm.sh stop    # stop the daemons it started, remove its state
#   source "$SLURM_STATE/env"                        # then sbatch / squeue / sacct talk to it
#
# Its state (munge key, database, spool, logs) lives in $SLURM_STATE (default
# /tmp/analognoise-slurm) and it listens on its own ports (16817-16819, 13306), so it leaves a
# machine's own MariaDB alone, and `stop` then `start` works again. Two things sit where SLURM's
# clients look without being told: munged serves the default socket (/run/munge), and the
# configuration is /etc/slurm/slurm.conf (the jobstep plugin inside each job runs srun with
# SLURM_CONF removed from the environment, so a configuration elsewhere is not found there).
# So it refuses to start beside a running munge or a slurm.conf it did not write. The node
# gets this machine's cores and its memory less 2 GiB. Needs root (it runs the daemons as root).
set -euo pipefail
STATE=${SLURM_STATE:-/tmp/analognoise-slurm}
CLUSTER=analognoise
HOST=$(hostname -s)
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)
#: SLURM's clients look for munge at its default socket only, so munged serves that one
MUNGE_SOCKET=/run/munge/munge.socket.2
#: where SLURM's commands read their configuration without SLURM_CONF (Debian's build)
CONF_DIR=/etc/slurm
MARK="# written by analognoise workflow/cluster/one_node_slurm.sh"

say() { echo ">> [slurm] $*"; }

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null; }
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds, else fail naming WHAT and the logs
  local limit=$1 what=$2; shift 2
  for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "ERROR: $what did not come up within ${limit}s; logs in $STATE/log:" >&2
  tail -n 20 "$STATE"/log/*.log >&2 || true
  return 1
}

write_configs() {
  local cpus memory
  cpus=$(nproc)
  memory=$(( $(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p') - 2048 ))
  mkdir -p "$STATE"/{log,munge,ctld,spool,mysql}
  chmod 755 "$STATE/munge"
  dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$STATE/munge/munge.key"
  local auth="AuthType=auth/munge"
  cat > "$CONF_DIR/slurm.conf" <<EOF
$MARK
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
$auth
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=16819
AccountingStoreFlags=job_comment
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  cat > "$CONF_DIR/slurmdbd.conf" <<EOF
$MARK
$auth
DbdHost=$HOST
DbdAddr=127.0.0.1
DbdPort=16819
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=13306
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$CONF_DIR/slurmdbd.conf"
  echo "export SLURM_CONF=$CONF_DIR/slurm.conf" > "$STATE/env"
  say "one node: $HOST, $cpus CPUs, $memory MiB; configuration in $CONF_DIR, state in $STATE"
}

start_database() {
  mariadb-install-db --user=root --datadir="$STATE/mysql" --auth-root-authentication-method=normal \
    --skip-test-db > "$STATE/log/mariadb-install.log" 2>&1
  mariadbd --user=root --datadir="$STATE/mysql" --socket="$STATE/mysql.sock" --port=13306 \
    --bind-address=127.0.0.1 --pid-file="$STATE/mariadb.pid" --log-error="$STATE/log/mariadb.log" \
    --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 > /dev/null 2>&1 &
  wait_for 60 "MariaDB" mariadb --socket="$STATE/mysql.sock" -uroot -e "SELECT 1"
  mariadb --socket="$STATE/mysql.sock" -uroot -e \
    "CREATE USER 'slurm'@'%' IDENTIFIED BY 'slurm'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'%';"
}

start() {
  if [ -f "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
    say "already running ($STATE)"; return
  fi
  [ "$(id -u)" -eq 0 ] || { echo "ERROR: the one-node scheduler runs its daemons as root; run as root" >&2; exit 1; }
  install_packages
  if [ -f "$CONF_DIR/slurm.conf" ] && ! grep -qxF "$MARK" "$CONF_DIR/slurm.conf"; then
    echo "ERROR: $CONF_DIR/slurm.conf is this machine's own SLURM configuration: use that cluster, or move it away" >&2
    exit 1
  fi
  rm -rf "$STATE"
  write_configs
  export SLURM_CONF="$CONF_DIR/slurm.conf"
  if [ -S "$MUNGE_SOCKET" ] && munge -n -S "$MUNGE_SOCKET" >/dev/null 2>&1; then
    echo "ERROR: a munged already serves $MUNGE_SOCKET (a SLURM install on this machine?): use that cluster, or stop it" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$MUNGE_SOCKET")"
  munged --force --socket="$MUNGE_SOCKET" --key-file="$STATE/munge/munge.key" \
    --pid-file="$STATE/munged.pid" --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed"
  start_database
  slurmdbd
  wait_for 60 "slurmdbd" sacctmgr -n list cluster
  sacctmgr -i add cluster "$CLUSTER" >/dev/null
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  wait_for 120 "the node" bash -c "sinfo -h -N -o %T | grep -qx idle"
  say "idle: $(sinfo -h -N -o '%N %c CPUs %m MiB %T'); slurm $(sinfo -V | cut -d' ' -f2)"
}

stop() {
  for daemon in slurmd slurmctld slurmdbd mariadb munged; do
    local pidfile="$STATE/$daemon.pid"
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$STATE"
  for conf in slurm.conf slurmdbd.conf; do
    if grep -qxF "$MARK" "$CONF_DIR/$conf" 2>/dev/null; then rm -f "$CONF_DIR/$conf"; fi
  done
  say "stopped; $STATE and its configuration removed"
}

case "${1:-}" in
  install) install_packages ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
