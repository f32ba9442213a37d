#!/usr/bin/env bash
# Writes a local .env for the private database when none exists (random secrets).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .env ] && exit 0
secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
dbpass=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
cat > .env <<ENV
# Generado por 'make' (véase .env.example). No se versiona.
DB_PRIVADA=1
DB_HOST=127.0.0.1
DB_PORT=3308
DB_USER=root
DB_PASSWORD=$dbpass
DB_NAME=historial_medico
SECRET_KEY=$secret
ENV
echo "Creado .env con una SECRET_KEY aleatoria y la base de datos privada."
