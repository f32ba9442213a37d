#!/usr/bin/env bash
# Debian packages `make test` and `make bench` need: wrk (benchmark), redis-server
# (multi-worker tests), chromium (browser tests, driven by playwright), mariadb-client
# (mariadb-dump and mariadb for `respaldar`/`restaurar`), and for the Galera cluster of
# scripts/galera.sh (tests/test_galera.py, the bench's cluster scenario) galera-4, rsync (its
# state transfer) and lsof.
# Idempotent and quiet: installs only what is missing (as root, or with sudo).
set -euo pipefail
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v mariadb-dump >/dev/null 2>&1 || missing+=(mariadb-client)
[ -f /usr/lib/galera/libgalera_smm.so ] || missing+=(galera-4)
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
command -v lsof >/dev/null 2>&1 || missing+=(lsof)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
  echo "Faltan ${missing[*]} y no hay root ni sudo: instálelos con apt-get." >&2
  exit 1
fi
echo "Instalando ${missing[*]} con apt-get..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
