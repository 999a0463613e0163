#!/bin/sh
# init-secrets.sh: writes the two secret files docker-compose.yml reads, once:
# db.env (the PostgreSQL password, as POSTGRES_PASSWORD for the postgres
# image and PGPASSWORD for libpq) and admin.env (QW_ADMIN_PASSWORD for auth).
# A file that exists is left as it is; the admin password is printed when made.
set -eu
cd "$(dirname "$0")"
umask 077
gen() { head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c "$1"; }
if [ ! -f db.env ]; then
  pw=$(gen 32)
  printf 'POSTGRES_PASSWORD=%s\nPGPASSWORD=%s\n' "$pw" "$pw" >db.env
  echo "wrote compose/db.env"
fi
if [ ! -f admin.env ]; then
  pw=$(gen 16)
  printf 'QW_ADMIN_PASSWORD=%s\n' "$pw" >admin.env
  echo "wrote compose/admin.env; instructor login: admin / $pw"
fi
