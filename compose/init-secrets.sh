#!/bin/sh
# init-secrets.sh: writes the secret files docker-compose.yml reads, once:
# db.env (the PostgreSQL password, as POSTGRES_PASSWORD for the postgres
# image and PGPASSWORD for libpq), admin.env (QW_ADMIN_PASSWORD for auth),
# and one NATS password per role (shared/roles.c): secrets/nats-<role>.password
# for the daemons and the same in nats.env (QW_NATS_<ROLE>_PASSWORD) for
# nats-server. secrets/ is 0700: only its owner on the host reads it; its
# files are 0644 because compose mounts them as they are into containers
# whose user is not the host's. A file that exists is left as it is; the
# admin password is printed when made.
set -eu
cd "$(dirname "$0")"
umask 077
gen() { head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c "$1"; }
if [ ! -f db.env ]; then
  pw=$(gen 32)
  printf 'POSTGRES_PASSWORD=%s\nPGPASSWORD=%s\n' "$pw" "$pw" >db.env
  echo "wrote compose/db.env"
fi
mkdir -p secrets
chmod 700 secrets
for role in auth session scoring gateway bench; do
  f=secrets/nats-$role.password
  [ -s "$f" ] || { gen 32 >"$f"; echo "wrote compose/$f"; }
  chmod 644 "$f"
done
if [ ! -f nats.env ]; then
  for role in auth session scoring gateway bench; do
    printf 'QW_NATS_%s_PASSWORD=%s\n' "$(echo "$role" | tr '[:lower:]' '[:upper:]')" "$(cat "secrets/nats-$role.password")"
  done >nats.env
  echo "wrote compose/nats.env"
fi
if [ ! -f admin.env ]; then
  pw=$(gen 16)
  printf 'QW_ADMIN_PASSWORD=%s\n' "$pw" >admin.env
  echo "wrote compose/admin.env; instructor login: admin / $pw"
fi
