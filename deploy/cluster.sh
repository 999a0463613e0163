# deploy/cluster.sh: sourced by deploy/bootstrap.sh --cluster N --peers
# IP1,IP2,IP3 on each of three VMs: the same layout scripts/cluster.sh runs
# in network namespaces (docs/RELIABILITY.md, "The cluster"). Uses Debian's
# own etcd.service and patroni.service with files written here, and the
# variables bootstrap.sh sets (ETC, CLUSTER, ME, IPS, SRC, say, secret,
# install_file). Nothing here prints a secret.
# shellcheck shell=bash

# cluster_database: etcd (member N of three), PostgreSQL under Patroni with
# strict synchronous replication; once there is a primary anywhere, the
# login roles and the database (through the multi-host URL: only the
# primary takes writes). Defines psql_pg for bootstrap.sh's role steps.
cluster_database() {
  local t changed=0 initial="" i pgbin
  for ((i = 0; i < 3; i++)); do initial+="${initial:+,}m$((i + 1))=http://${IPS[$i]}:2380"; done
  t=$(mktemp)
  cat >"$t" <<ETCD
# /etc/default/etcd: written by deploy/bootstrap.sh --cluster (member $CLUSTER of three)
ETCD_NAME=m$CLUSTER
ETCD_DATA_DIR=/var/lib/etcd/quizwire
ETCD_LISTEN_PEER_URLS=http://$ME:2380
ETCD_INITIAL_ADVERTISE_PEER_URLS=http://$ME:2380
ETCD_LISTEN_CLIENT_URLS=http://$ME:2379,http://127.0.0.1:2379
ETCD_ADVERTISE_CLIENT_URLS=http://$ME:2379
ETCD_INITIAL_CLUSTER=$initial
ETCD_INITIAL_CLUSTER_STATE=new
ETCD_INITIAL_CLUSTER_TOKEN=quizwire
ETCD_HEARTBEAT_INTERVAL=100
ETCD_ELECTION_TIMEOUT=1000
ETCD_PRE_VOTE=true
ETCD
  install_file "$t" /etc/default/etcd 0644 && changed=1
  # Debian's postgresql@15-main is not used on a cluster machine: Patroni runs its own
  systemctl disable --now --quiet postgresql 2>/dev/null || true
  pgbin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  # the three machines may replicate and connect; nobody else
  local hba="" ip
  for ip in "${IPS[@]}"; do
    hba+="    - host replication replicator $ip/32 scram-sha-256"$'\n'
    hba+="    - host all all $ip/32 scram-sha-256"$'\n'
  done
  hba=${hba%$'\n'}
  cat >"$t" <<PATRONI
# /etc/patroni/config.yml: written by deploy/bootstrap.sh --cluster (machine $CLUSTER)
scope: quizwire
namespace: /quizwire/
name: m$CLUSTER
restapi:
  listen: $ME:8008
  connect_address: $ME:8008
etcd3:
  hosts: $(printf '%s:2379,' "${IPS[@]}" | sed 's/,$//')
bootstrap:
  dcs:
    # as scripts/cluster.sh: a lost primary replaced within a 10 s cut
    ttl: 5
    loop_wait: 1
    retry_timeout: 2
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        synchronous_commit: "on"
        wal_log_hints: "on"
        max_connections: 300
        wal_retrieve_retry_interval: 500ms
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth: scram-sha-256
postgresql:
  listen: $ME:5432,127.0.0.1:5432
  connect_address: $ME:5432
  data_dir: /var/lib/postgresql/quizwire
  basebackup:
    - checkpoint: fast
  bin_dir: $pgbin
  pgpass: /var/lib/postgresql/.pgpass_patroni
  authentication:
    superuser:
      username: postgres
      password: $(secret db-superuser.password)
    replication:
      username: replicator
      password: $(secret db-replicator.password)
  pg_hba:
    - local all all scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
$hba
PATRONI
  install -d -m 0750 -o postgres -g postgres /etc/patroni
  if install_file "$t" /etc/patroni/config.yml 0600; then changed=1; fi
  chown postgres: /etc/patroni/config.yml
  install_file "$SRC/deploy/cluster/patroni-quizwire.conf" /etc/systemd/system/patroni.service.d/quizwire.conf 0644 && changed=1
  rm -f "$t"
  [ "$changed" = 1 ] && systemctl daemon-reload
  for u in etcd patroni; do
    systemctl is-enabled --quiet "$u" || systemctl enable --quiet "$u"
    if [ "$changed" = 1 ]; then systemctl restart "$u"; else systemctl is-active --quiet "$u" || systemctl start "$u"; fi
  done
  # a primary anywhere (the other machines may still be on their way)
  say "waiting for a PostgreSQL primary (Patroni on ${IPS[*]})"
  for _ in $(seq 1 300); do
    for ip in "${IPS[@]}"; do
      [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$ip:8008/primary")" = 200 ] && return 0
    done
    sleep 1
  done
  echo "bootstrap.sh: Patroni has no primary after 300 s; see journalctl -u patroni -u etcd on the three machines" >&2
  exit 1
}

# psql_pg ARGS...: psql as the superuser on the primary, wherever it is
# (the password from the secret file, in the environment of psql alone)
psql_pg() {
  PGPASSWORD=$(secret db-superuser.password) psql -X -q -v ON_ERROR_STOP=1 \
    "host=$(IFS=,; echo "${IPS[*]}") port=5432,5432,5432 dbname=postgres user=postgres target_session_attrs=read-write" "$@"
}

# cluster_nats_block: the cluster block of nats.conf: routes to the other
# two machines with their own user and mutual TLS (systemd credentials)
cluster_nats_block() {
  local ip c=/run/credentials/nats-server.service
  echo "http: 127.0.0.1:8222"
  echo "cluster {"
  echo "  name: quizwire"
  echo "  listen: $ME:6222"
  echo "  authorization { user: route, password: \"$(secret nats-route.password)\", timeout: 2 }"
  echo "  tls { cert_file: \"$c/nats-route.pem\", key_file: \"$c/nats-route.key\", ca_file: \"$c/cluster-ca.pem\", verify: true, timeout: 2 }"
  echo "  routes = ["
  for ip in "${IPS[@]}"; do
    [ "$ip" = "$ME" ] || echo "    nats-route://route:$(secret nats-route.password)@$ip:6222"
  done
  echo "  ]"
  echo "}"
}

# cluster_gateway_dropin: the gateways listen on this machine's address
# (every machine's HAProxy sends to every gateway) and trust the three
# machines' HAProxies for X-Forwarded-For
cluster_gateway_dropin() {
  local t
  t=$(mktemp)
  printf '[Service]\nEnvironment=QW_HTTP_ADDR=%s QW_TRUSTED_PROXIES=%s\n' "$ME" "$(IFS=,; echo "${IPS[*]}")" >"$t"
  # shellcheck disable=SC2034 # bootstrap.sh reloads systemd when it is set
  install_file "$t" /etc/systemd/system/qw-gateway@.service.d/cluster.conf 0644 && units_changed=1
  rm -f "$t"
}
