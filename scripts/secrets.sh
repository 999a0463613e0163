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
