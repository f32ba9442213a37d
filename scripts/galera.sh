#!/usr/bin/env bash
# A private three-node MariaDB Galera cluster on loopback, for tests, the benchmark and trying
# out a deployment. Not a production set-up: the failure-detection timeouts are cut to a
# couple of seconds so that a lost node leaves the cluster quickly.
#
# Usage: scripts/galera.sh start [N] | stop [N] | status | kill N
#   start      bootstrap the cluster (node 1, or the most advanced node after a full stop) and
#              join the other two; `start N` starts node N alone, joining the running cluster
#   stop       stop the three nodes (node 1 last, so it can bootstrap the next start)
#   kill N     SIGKILL node N (a crash, for failover tests)
#   status     one line per node: port, pid, state, cluster size
#
# Settings (environment): GALERA_DIR (default .galera/ in the project, git-ignored),
# GALERA_PUERTO (default 13300): node N serves SQL on GALERA_PUERTO+N and uses
# GALERA_PUERTO+10+N (group communication), +20+N (IST) and +30+N (SST). DB_PASSWORD (from
# .env unless set) becomes root's password for TCP connections from 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DIR="${GALERA_DIR:-$ROOT/.galera}"
BASE="${GALERA_PUERTO:-13300}"
env_value() { grep -E "^$1=" .env 2>/dev/null | tail -n1 | cut -d= -f2- ; }
PASSWORD="${DB_PASSWORD:-$(env_value DB_PASSWORD)}"
PROVIDER=/usr/lib/galera/libgalera_smm.so
NODES=(1 2 3)

sql_port() { echo $((BASE + $1)); }
gcomm_port() { echo $((BASE + 10 + $1)); }
ist_port() { echo $((BASE + 20 + $1)); }
sst_port() { echo $((BASE + 30 + $1)); }
node_dir() { echo "$DIR/nodo$1"; }
pidfile() { echo "$(node_dir "$1")/mariadbd.pid"; }
# The pid of the launched process: mariadbd writes its own pid-file only after a state transfer.
launched() { echo "$(node_dir "$1")/lanzado.pid"; }
sock() { echo "$(node_dir "$1")/mariadbd.sock"; }

running() { local p; p="$(launched "$1")"; [ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null; }

install_deps() {
  local missing=()
  command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server mariadb-client)
  [ -f "$PROVIDER" ] || missing+=(galera-4)
  command -v rsync >/dev/null 2>&1 || missing+=(rsync)
  command -v lsof >/dev/null 2>&1 || missing+=(lsof)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "Faltan ${missing[*]}: instálelos con apt-get (hace falta root)." >&2
    exit 1
  fi
  echo "Instalando ${missing[*]} con apt-get..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Run one statement on node N through its socket (root, with or without the password).
node_sql() {
  local n="$1"; shift
  mariadb --no-defaults -S "$(sock "$n")" -uroot ${PASSWORD:+-p"$PASSWORD"} -N -B -e "$*" 2>/dev/null \
    || mariadb --no-defaults -S "$(sock "$n")" -uroot -N -B -e "$*" 2>/dev/null
}

state() { node_sql "$1" "SHOW STATUS LIKE 'wsrep_local_state_comment'" | cut -f2; }

write_config() {
  local n="$1" d; d="$(node_dir "$n")"
  local peers="127.0.0.1:$(gcomm_port 1),127.0.0.1:$(gcomm_port 2),127.0.0.1:$(gcomm_port 3)"
  # evs.*: a silent peer is suspected after 1.5 s and declared dead after 3 s (defaults 5 s
  # and 15 s), so the surviving nodes form the new primary component within seconds.
  # keepalive <= inactive_check <= suspect <= inactive, install <= inactive.
  local opts="gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$(ist_port "$n")"
  opts+=";evs.keepalive_period=PT0.3S;evs.inactive_check_period=PT0.5S"
  opts+=";evs.suspect_timeout=PT1.5S;evs.inactive_timeout=PT3S;evs.install_timeout=PT3S"
  opts+=";evs.join_retrans_period=PT0.5S;gmcast.peer_timeout=PT2S"
  opts+=";gcache.size=64M;pc.wait_prim_timeout=PT10S"
  cat >"$d/my.cnf" <<CNF
[mariadbd]
datadir=$d/data
port=$(sql_port "$n")
bind-address=127.0.0.1
socket=$(sock "$n")
pid-file=$(pidfile "$n")
log-error=$d/error.log
user=mysql
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
max_connections=300
skip-name-resolve
default_storage_engine=InnoDB
binlog_format=ROW
innodb_autoinc_lock_mode=2
innodb_buffer_pool_size=128M
innodb_log_file_size=64M
innodb_flush_log_at_trx_commit=0
wsrep_on=ON
wsrep_provider=$PROVIDER
wsrep_cluster_name=historial_pruebas
wsrep_cluster_address=gcomm://$peers
wsrep_node_name=nodo$n
wsrep_node_address=127.0.0.1
wsrep_provider_options="$opts"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:$(sst_port "$n")
wsrep_slave_threads=2
CNF
}

prepare() {
  local n="$1" d; d="$(node_dir "$n")"
  mkdir -p "$d/data"
  write_config "$n"
  chown -R mysql:mysql "$d"
  # The mysql user must reach the folder (rsync SST refuses a datadir it does not own).
  chmod 755 "$DIR"
}

launch() {
  local n="$1"; shift
  local d; d="$(node_dir "$n")"
  rm -f "$(sock "$n")"
  mariadbd --defaults-file="$d/my.cnf" "$@" >>"$d/salida.log" 2>&1 &
  echo $! >"$(launched "$n")"
}

wait_synced() {
  local n="$1" seconds="${2:-90}" i
  for i in $(seq 1 $((seconds * 4))); do
    if [ "$(state "$n" 2>/dev/null)" = "Synced" ]; then return 0; fi
    if [ "$i" -gt 8 ] && ! running "$n"; then
      echo "El nodo $n no arrancó; véase $(node_dir "$n")/error.log" >&2
      tail -n 20 "$(node_dir "$n")/error.log" >&2 || true
      exit 1
    fi
    sleep 0.25
  done
  echo "El nodo $n no llegó a Synced en ${seconds}s; véase $(node_dir "$n")/error.log" >&2
  exit 1
}

any_running() { local n; for n in "${NODES[@]}"; do running "$n" && return 0; done; return 1; }

grastate() { sed -n "s/^$2: *//p" "$(node_dir "$1")/data/grastate.dat" 2>/dev/null; }

# After a full stop: the node that stopped last (safe_to_bootstrap: 1), else the one with the
# highest committed seqno, else node 1.
bootstrap_node() {
  local n best=1 seqno max=-2
  for n in "${NODES[@]}"; do
    [ "$(grastate "$n" safe_to_bootstrap)" = 1 ] && { echo "$n"; return; }
  done
  for n in "${NODES[@]}"; do
    seqno="$(grastate "$n" seqno)"; seqno="${seqno:--1}"
    [ "$seqno" -gt "$max" ] && { max="$seqno"; best="$n"; }
  done
  sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$(node_dir "$best")/data/grastate.dat"
  echo "$best"
}

start_node() {
  local n="$1"
  if running "$n"; then echo "Nodo $n ya en marcha (puerto $(sql_port "$n"))."; return 0; fi
  any_running || { echo "No hay ningún nodo en marcha: use '$0 start'." >&2; exit 1; }
  prepare "$n"
  launch "$n"
  wait_synced "$n"
  echo "Nodo $n unido al clúster (127.0.0.1:$(sql_port "$n"))."
}

start_all() {
  install_deps
  if any_running; then
    local n
    for n in "${NODES[@]}"; do running "$n" || start_node "$n"; done
    return 0
  fi
  mkdir -p "$DIR"
  local first=1 fresh=0
  if [ ! -d "$(node_dir 1)/data/mysql" ]; then
    fresh=1
    prepare 1
    mariadb-install-db --no-defaults --datadir="$(node_dir 1)/data" --user=mysql \
      --auth-root-authentication-method=normal --skip-test-db >"$(node_dir 1)/install.log" 2>&1
  else
    first="$(bootstrap_node)"
    prepare "$first"
  fi
  launch "$first" --wsrep-new-cluster
  wait_synced "$first"
  if [ "$fresh" = 1 ]; then
    node_sql 1 "ALTER USER 'root'@'localhost' IDENTIFIED BY '$PASSWORD';
      CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
      ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" >/dev/null
  fi
  # One joiner at a time: a donor serves one state transfer at once.
  local n
  for n in "${NODES[@]}"; do
    [ "$n" = "$first" ] && continue
    prepare "$n"
    launch "$n"
    wait_synced "$n"
  done
  echo "Clúster Galera en 127.0.0.1:$(sql_port 1),$(sql_port 2),$(sql_port 3) (datos en $DIR)."
}

stop_node() {
  local n="$1" i
  running "$n" || return 0
  kill "$(cat "$(launched "$n")")"
  for i in $(seq 1 120); do running "$n" || return 0; sleep 0.25; done
  kill -9 "$(cat "$(launched "$n")")" 2>/dev/null || true
}

stop_all() {
  local n
  for n in 3 2 1; do stop_node "$n"; done
  echo "Clúster Galera detenido."
}

kill_node() {
  local n="$1"
  running "$n" || { echo "El nodo $n no está en marcha." >&2; exit 1; }
  kill -9 "$(cat "$(launched "$n")")"
  local i; for i in $(seq 1 40); do running "$n" || break; sleep 0.1; done
  echo "Nodo $n matado (SIGKILL)."
}

status() {
  local n up=0
  for n in "${NODES[@]}"; do
    if running "$n"; then
      up=$((up + 1))
      local size; size="$(node_sql "$n" "SHOW STATUS LIKE 'wsrep_cluster_size'" | cut -f2)"
      echo "nodo$n 127.0.0.1:$(sql_port "$n") pid $(cat "$(launched "$n")") $(state "$n") tamaño=$size"
    else
      echo "nodo$n 127.0.0.1:$(sql_port "$n") parado"
    fi
  done
  [ "$up" -gt 0 ]
}

check_node() { case "${1:-}" in 1|2|3) ;; *) echo "nodo inválido: ${1:-} (1, 2 o 3)" >&2; exit 2 ;; esac; }

case "${1:-}" in
  start) if [ -n "${2:-}" ]; then check_node "$2"; install_deps; start_node "$2"; else start_all; fi ;;
  stop) if [ -n "${2:-}" ]; then check_node "$2"; stop_node "$2"; else stop_all; fi ;;
  kill) check_node "${2:-}"; kill_node "$2" ;;
  status) status ;;
  *) echo "uso: $0 start [N] | stop [N] | kill N | status" >&2; exit 2 ;;
esac
