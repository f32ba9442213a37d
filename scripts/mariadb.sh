#!/usr/bin/env bash
# The project's private MariaDB: data in .mariadb/ (git-ignored), TCP 127.0.0.1:$DB_PORT.
# Usage: scripts/mariadb.sh start|stop|status. Reads DB_PORT and DB_PASSWORD from .env.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$PWD/.mariadb"
DATA="$DIR/data"
SOCK="$DIR/mysqld.sock"
PIDFILE="$DIR/mysqld.pid"
env_value() { grep -E "^$1=" .env 2>/dev/null | tail -n1 | cut -d= -f2- ; }
PORT="$(env_value DB_PORT)"; PORT="${PORT:-3308}"
PASSWORD="$(env_value DB_PASSWORD)"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

install_server() {
  command -v mariadbd >/dev/null 2>&1 && return 0
  echo "MariaDB no está instalado: instalando mariadb-server con apt..."
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
    echo "No se puede instalar mariadb-server sin root. Instálelo o configure DB_HOST en .env." >&2
    exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-server mariadb-client >/dev/null
}

start() {
  if running; then echo "MariaDB privado ya en marcha (puerto $PORT)."; return 0; fi
  install_server
  mkdir -p "$DIR"
  if [ ! -d "$DATA/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$DATA" --auth-root-authentication-method=normal \
      >"$DIR/install.log" 2>&1
  fi
  USER_OPT=(); [ "$(id -u)" = 0 ] && USER_OPT=(--user=root)
  mariadbd --no-defaults --datadir="$DATA" --port="$PORT" --bind-address=127.0.0.1 \
    --socket="$SOCK" --pid-file="$PIDFILE" "${USER_OPT[@]}" --max-connections=500 \
    --innodb-buffer-pool-size=512M --innodb-flush-log-at-trx-commit=2 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --log-error="$DIR/error.log" >/dev/null 2>&1 &
  for _ in $(seq 1 60); do
    [ -S "$SOCK" ] && mariadb-admin --no-defaults -S "$SOCK" -uroot ${PASSWORD:+-p"$PASSWORD"} ping >/dev/null 2>&1 && break
    [ -S "$SOCK" ] && mariadb-admin --no-defaults -S "$SOCK" -uroot ping >/dev/null 2>&1 && break
    sleep 0.5
  done
  # First start: give root the password of .env, for TCP from 127.0.0.1 too.
  if mariadb --no-defaults -S "$SOCK" -uroot -e "SELECT 1" >/dev/null 2>&1; then
    mariadb --no-defaults -S "$SOCK" -uroot <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY '$PASSWORD';
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  fi
  running || { echo "MariaDB no arrancó; véase $DIR/error.log" >&2; exit 1; }
  echo "MariaDB privado en 127.0.0.1:$PORT (datos en .mariadb/)."
}

stop() {
  if running; then
    kill "$(cat "$PIDFILE")"
    for _ in $(seq 1 60); do running || break; sleep 0.5; done
    echo "MariaDB privado detenido."
  else
    echo "MariaDB privado no estaba en marcha."
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) running && echo "en marcha" || { echo "parado"; exit 1; } ;;
  *) echo "uso: $0 start|stop|status" >&2; exit 2 ;;
esac
