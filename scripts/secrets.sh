# secrets.sh: sourced by scripts/stack.sh. The unprivileged user the stack
# runs as, the stack's secrets (one NATS password per role, made at first
# start, kept in DIR/secrets with mode 0600 for that user only) and the
# nats.conf that checks them (docs/SECURITY.md).
# shellcheck shell=bash

# stack_user_init: sets QW_OS_USER (who runs PostgreSQL, NATS and the
# daemons) and RUN_AS, the command prefix that drops to that user. Started
# as root, that is the system user 'quizwire' (made when missing) and
# setpriv, which execs the command itself, so pid files name the daemon.
# shellcheck disable=SC2034 # RUN_AS is used by stack.sh
stack_user_init() {
  RUN_AS=()
  QW_OS_USER=$(id -un)
  if [ "$(id -u)" = 0 ]; then
    QW_OS_USER=quizwire
    id quizwire >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin quizwire
    RUN_AS=(setpriv --reuid=quizwire --regid=quizwire --init-groups --no-new-privs --)
  fi
}

# secret_new: prints a fresh random secret (32 letters and digits).
secret_new() {
  head -c 48 /dev/urandom | base64 -w 0 | tr -d '/+=' | head -c 32
}

# secrets_init DIR BIN: makes DIR/secrets (0700) and a password file for
# every NATS role the build knows (qw-nats-roles --names) that has none
# yet, all owned by QW_OS_USER. Sets SECRETS.
secrets_init() {
  local dir=$1 bin=$2 role f
  SECRETS=$dir/secrets
  (umask 077 && mkdir -p "$SECRETS")
  chmod 700 "$SECRETS"
  for role in $("$bin/shared/qw-nats-roles" --names); do
    f=$SECRETS/nats-$role.password
    if [ ! -s "$f" ]; then
      (umask 077 && secret_new >"$f.tmp" && mv "$f.tmp" "$f")
    fi
  done
  if [ "$(id -u)" = 0 ]; then chown -R "$QW_OS_USER:" "$SECRETS"; fi
  chmod 600 "$SECRETS"/*
}

# nats_conf_write FILE BIN PORT: writes nats-server's configuration for the
# stack (loopback only, every role's user and permissions) readable only by
# QW_OS_USER, who runs nats-server.
nats_conf_write() {
  local file=$1 bin=$2 port=$3
  (
    umask 077
    {
      echo "listen: 127.0.0.1:$port"
      echo "max_payload: 8MB"
      echo "max_pending: 256MB"
      echo 'write_deadline: "10s"'
      "$bin/shared/qw-nats-roles" --conf "$SECRETS"
    } >"$file.tmp"
  ) || return 1
  if [ "$(id -u)" = 0 ]; then chown "$QW_OS_USER:" "$file.tmp"; fi
  mv "$file.tmp" "$file"
}

# pg_secrets_init: a password and a libpq passfile (pg-NAME.pgpass, used
# through passfile= in the connection string, so no password is ever in an
# environment) for the cluster's owner 'quizwire' and for each daemon's
# role qw_auth, qw_session, qw_scoring (db/migrations/007_roles.sql).
pg_secrets_init() {
  local name user f
  for name in owner auth session scoring; do
    user=qw_$name
    [ "$name" = owner ] && user=quizwire
    f=$SECRETS/pg-$name.password
    if [ ! -s "$f" ]; then
      (umask 077 && secret_new >"$f.tmp" && mv "$f.tmp" "$f")
    fi
    (umask 077 && printf '*:*:*:%s:%s\n' "$user" "$(cat "$f")" >"$SECRETS/pg-$name.pgpass")
  done
  if [ "$(id -u)" = 0 ]; then chown "$QW_OS_USER:" "$SECRETS"/pg-*; fi
  chmod 600 "$SECRETS"/pg-*
}

# pg_url NAME HOST PORT: the libpq connection string of NAME (owner or a
# daemon's role) on the stack's socket; its password stays in the passfile.
pg_url() {
  local user=qw_$1
  [ "$1" = owner ] && user=quizwire
  printf 'host=%s port=%s dbname=quizwire user=%s passfile=%s/pg-%s.pgpass' "$2" "$3" "$user" "$SECRETS" "$1"
}

# pg_roles_sync PSQL...: makes (or updates) the daemons' login roles with
# their passwords, and the owner's password, through PSQL (a psql command
# connected as the owner). The passwords are read by psql itself from
# their files, never put on a command line.
pg_roles_sync() {
  local name
  {
    echo '\set ON_ERROR_STOP 1'
    echo "\\set pw \`cat '$SECRETS/pg-owner.password'\`"
    echo "ALTER ROLE quizwire PASSWORD :'pw';"
    for name in auth session scoring; do
      echo "SELECT 'CREATE ROLE qw_$name' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'qw_$name') \\gexec"
      echo "\\set pw \`cat '$SECRETS/pg-$name.password'\`"
      echo "ALTER ROLE qw_$name LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw';"
    done
  } | "$@" -X -q
}
