#!/usr/bin/env bash
# Brings the local infrastructure up or down: Apache Kafka (KRaft, single node, SASL
# SCRAM-SHA-512 and ACLs; the admin's and the services' passwords are made on the first
# run under var/kafka/users/) and FerretDB over PostgreSQL. Used by `make run`, `make test` and CI alike.
#
# Why PostgreSQL and not FerretDB's SQLite backend: on SQLite, FerretDB 1.24
# evaluates every filter in Go over every document (an _id lookup took 122 ms
# and an equality filter 1.6 s with 20,000 documents), so an idle system's
# periodic jobs alone kept it at 170% CPU. On PostgreSQL the same filters are
# pushed down, and deploy/postgres/tuning.sql gives those filters indexes they can
# use (an _id lookup among 100,000 documents: 70 ms before, 1.7 ms after). The
# PostgreSQL here is a throwaway development server: fsync is off.
#
#   deploy/infra.sh up | down | status
#
# Environment (defaults in brackets):
#   DOITHOAI_VAR     data, logs and caches                    [<repo>/var]
#   KAFKA_PORT       Kafka client port                        [9092]
#   KAFKA_CONTROLLER_PORT  KRaft controller port              [9093]
#   MONGO_PORT       FerretDB port                            [27017]
#   PG_PORT          PostgreSQL port (loopback only)          [54329]
#   KAFKA_HEAP       broker heap                              [-Xms256m -Xmx768m]
#   FERRETDB_GOGC    Go GC target of FerretDB                 [400]
#   PYTHON           interpreter with kafka-python and pymongo [<repo>/.venv/bin/python]
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
var=${DOITHOAI_VAR:-$repo/var}
kafka_port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-9093}
mongo_port=${MONGO_PORT:-27017}
pg_port=${PG_PORT:-54329}
python=${PYTHON:-$repo/.venv/bin/python}
export DOITHOAI_VAR=$var
kafka_heap=${KAFKA_HEAP:--Xms256m -Xmx768m}

kafka_dir=$var/kafka
pg_dir=$var/postgres
ferret_dir=$var/ferretdb
log_dir=$var/logs
run_dir=$var/run

die() { echo "infra: $*" >&2; exit 1; }
say() { echo "infra: $*"; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed; $2"
}

alive() {  # alive PIDFILE: the process in PIDFILE is running
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

port_busy() {
  "$python" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
}

check() {  # check kafka|mongo: a real metadata request (as admin) or ping
  KAFKA_USERNAME=admin KAFKA_PASSWORD= KAFKA_PASSWORD_FILE="$kafka_dir/users/admin.password" \
    "$python" "$repo/deploy/probe.py" "$1" "$2" >/dev/null 2>&1
}

wait_for() {  # wait_for NAME KIND ADDR PIDFILE LOG SECONDS
  local name=$1 kind=$2 addr=$3 pidfile=$4 log=$5 limit=$6 i
  for ((i = 0; i < limit * 4; i++)); do
    if check "$kind" "$addr"; then return 0; fi
    if ! alive "$pidfile"; then
      echo "infra: $name exited during start-up; last lines of $log:" >&2
      tail -n 20 "$log" >&2 || true
      exit 1
    fi
    sleep 0.25
  done
  die "$name did not answer on $addr within ${limit}s; see $log"
}

kafka_fetch() {
  local lib=$kafka_dir/lib stamp
  stamp=$(sha1sum "$repo/deploy/kafka/pom.xml" | cut -c1-12)
  if [ -f "$lib/.stamp" ] && [ "$(cat "$lib/.stamp")" = "$stamp" ]; then return; fi
  need java "install a JDK 17 (apt-get install openjdk-17-jre-headless)"
  need mvn "install Maven (apt-get install maven)"
  say "fetching Apache Kafka from Maven Central (first run only)"
  rm -rf "$lib" && mkdir -p "$lib"
  mvn -q -B -f "$repo/deploy/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$lib" -DincludeScope=runtime >"$log_dir/kafka-fetch.log" 2>&1 \
    || { tail -n 20 "$log_dir/kafka-fetch.log" >&2; die "mvn could not fetch Kafka; see $log_dir/kafka-fetch.log"; }
  echo "$stamp" >"$lib/.stamp"
}

secret() {  # secret FILE: a password kept in FILE (0600), made on first use
  if [ ! -s "$1" ]; then
    mkdir -p "$(dirname "$1")"
    (umask 077 && "$python" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$1")
  fi
  cat "$1"
}

kafka_config() {  # the broker's server.properties on stdout
  local admin controller
  admin=$(secret "$kafka_dir/users/admin.password")
  controller=$(secret "$kafka_dir/users/controller.password")
  sed -e "s|@KAFKA_PORT@|$kafka_port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
      -e "s|@DATA_DIR@|$kafka_dir/data|g" -e "s|@NODE_ID@|1|g" \
      -e "s|@VOTERS@|1@127.0.0.1:$controller_port|g" -e "s|@REPLICATION@|1|g" \
      -e "s|@MIN_ISR@|1|g" -e "s|@ADMIN_PASSWORD@|$admin|g" \
      -e "s|@CONTROLLER_PASSWORD@|$controller|g" \
      "$repo/deploy/kafka/server.properties.in"
}

kafka_format() {  # a fresh log directory with the admin user bootstrapped
  local admin
  admin=$(cat "$kafka_dir/users/admin.password")
  rm -rf "$kafka_dir/data" && mkdir -p "$kafka_dir/data"
  java -cp "$kafka_dir/lib/*" -Dlog4j2.configurationFile="$repo/deploy/kafka/log4j2.properties" \
    -Dkafka.logs.dir="$log_dir" kafka.tools.StorageTool format \
    -t "$("$python" -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')" \
    -c "$kafka_dir/server.properties" --add-scram "SCRAM-SHA-512=[name=admin,password=$admin]" \
    >"$log_dir/kafka-format.log" 2>&1 \
    || { cat "$log_dir/kafka-format.log" >&2; die "could not format the Kafka log directory"; }
}

kafka_setup() {  # users, ACLs and topics of the services (services/common/acls.py)
  KAFKA_BOOTSTRAP="127.0.0.1:$kafka_port" KAFKA_USERNAME=admin KAFKA_PASSWORD= \
    KAFKA_PASSWORD_FILE="$kafka_dir/users/admin.password" TOPIC_PREFIX= \
    "$python" -m services.cli kafka setup >"$log_dir/kafka-setup.log" 2>&1 \
    || { tail -n 20 "$log_dir/kafka-setup.log" >&2; die "kafka setup failed; see $log_dir/kafka-setup.log"; }
}

kafka_up() {
  local pidfile=$run_dir/kafka.pid log=$log_dir/kafka.out config stamp
  mkdir -p "$kafka_dir"
  config=$(kafka_config)
  # The stamp changes with the template, the ports or the passwords: a log directory
  # formatted otherwise (before SASL, or for another admin password) is formatted again.
  stamp=$(printf '%s' "$config" | sha1sum | cut -c1-12)
  if alive "$pidfile"; then
    if [ -f "$kafka_dir/format.stamp" ] && [ "$(cat "$kafka_dir/format.stamp")" = "$stamp" ] \
       && [ "$(cat "$kafka_dir/lib/.stamp" 2>/dev/null)" = "$(sha1sum "$repo/deploy/kafka/pom.xml" | cut -c1-12)" ]; then
      wait_for kafka kafka "127.0.0.1:$kafka_port" "$pidfile" "$log" 60
      kafka_setup
      say "kafka already running on 127.0.0.1:$kafka_port (reused)"
      return
    fi
    say "kafka runs an older configuration or build; restarting it"
    stop kafka "$pidfile"
  fi
  need java "install a JDK 17 (apt-get install openjdk-17-jre-headless)"
  for p in "$kafka_port" "$controller_port"; do
    port_busy "$p" && die "port $p is taken by another process; stop it or set KAFKA_PORT / KAFKA_CONTROLLER_PORT"
  done
  kafka_fetch
  (umask 077 && printf '%s\n' "$config" >"$kafka_dir/server.properties")
  # A fresh log directory at every start of the broker process (a running one is reused).
  # Found here: after a restart of this Kafka 4.1.1 broker over its old log, every SCRAM
  # login failed ("invalid credentials"), the admin's and the services' alike, so nothing
  # could repair them. The local broker's topics are scratch data; what matters lives in
  # MongoDB and its outboxes. Agencies added locally must be added again after a restart.
  [ -f "$kafka_dir/data/meta.properties" ] && say "formatting a fresh Kafka log directory (local topics do not survive a broker restart)"
  kafka_format
  echo "$stamp" >"$kafka_dir/format.stamp"
  # shellcheck disable=SC2086
  nohup java $kafka_heap -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$repo/deploy/kafka/log4j2.properties" -Dkafka.logs.dir="$log_dir" \
    -cp "$kafka_dir/lib/*" kafka.Kafka "$kafka_dir/server.properties" >"$log" 2>&1 &
  echo $! >"$pidfile"
  wait_for kafka kafka "127.0.0.1:$kafka_port" "$pidfile" "$log" 90
  kafka_setup
  say "kafka up on 127.0.0.1:$kafka_port, SASL SCRAM-SHA-512 with ACLs (logs: $log_dir/kafka.log; credentials: $kafka_dir/users/)"
}

ferret_stamp() {
  cat "$repo/deploy/ferretdb/go.mod" "$repo/deploy/ferretdb/go.sum" "$repo"/deploy/ferretdb/*.go | sha1sum | cut -c1-12
}

ferret_build() {
  local bin=$ferret_dir/bin/ferretdb stamp
  stamp=$(ferret_stamp)
  if [ -x "$bin" ] && [ -f "$bin.stamp" ] && [ "$(cat "$bin.stamp")" = "$stamp" ]; then return; fi
  need go "install Go 1.22 or newer (https://go.dev/dl)"
  say "building FerretDB (first run only)"
  mkdir -p "$ferret_dir/bin"
  (cd "$repo/deploy/ferretdb" && go build -o "$bin" .) >"$log_dir/ferretdb-build.log" 2>&1 \
    || { tail -n 20 "$log_dir/ferretdb-build.log" >&2; die "go build of FerretDB failed; see $log_dir/ferretdb-build.log"; }
  echo "$stamp" >"$bin.stamp"
}

pg_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$found" ] && command -v initdb >/dev/null 2>&1; then found=$(dirname "$(command -v initdb)"); fi
  if [ -z "$found" ]; then
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; install the 'postgresql' package"
    say "installing PostgreSQL from Debian's packages (first run only)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
      >"$log_dir/postgres-install.log" 2>&1 \
      || die "apt-get install postgresql failed; see $log_dir/postgres-install.log"
    found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$found"
}

as_pg() {  # PostgreSQL refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pick_pg_dir() {
  # As root, PostgreSQL runs as the postgres user, who may not be able to reach a
  # checkout under a private home folder: then its data goes to a folder of its own.
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$pg_dir"
    chown postgres "$pg_dir"
    if ! runuser -u postgres -- test -w "$pg_dir"; then
      pg_dir=/var/tmp/doithoai-postgres-$(echo "$var" | sha1sum | cut -c1-10)
      mkdir -p "$pg_dir"
      chown postgres "$pg_dir"
    fi
  else
    mkdir -p "$pg_dir"
  fi
}

pg_up() {
  local bin log
  bin=$(pg_bin)
  pick_pg_dir
  log=$pg_dir/postgres.log
  if ! as_pg "$bin/pg_ctl" -D "$pg_dir/data" status >/dev/null 2>&1; then
    pg_start "$bin" "$log"
  fi
  # Indexes FerretDB can use for its pushed-down filters (see the file). Read from
  # stdin: the postgres user may not be able to read the checkout.
  PGOPTIONS="-c client_min_messages=warning" as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" \
    -U ferret -d ferretdb -v ON_ERROR_STOP=1 -qtA -o /dev/null <"$repo/deploy/postgres/tuning.sql" \
    || die "could not apply deploy/postgres/tuning.sql"
}

pg_start() {  # pg_start BIN LOG
  local bin=$1 log=$2
  port_busy "$pg_port" && die "port $pg_port is taken by another process; stop it or set PG_PORT"
  if [ ! -f "$pg_dir/data/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$pg_dir/data" -U ferret -A trust -E UTF8 >"$pg_dir/init.log" 2>&1 \
      || { cat "$pg_dir/init.log" >&2; die "initdb failed"; }
  fi
  as_pg "$bin/pg_ctl" -D "$pg_dir/data" -l "$log" -w -t 60 start -o \
    "-p $pg_port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=256MB" \
    >/dev/null || { tail -n 20 "$log" >&2; die "PostgreSQL did not start; see $log"; }
  as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U ferret -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'" | grep -q 1 \
    || as_pg "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U ferret ferretdb
}

pg_down() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -w "$pg_dir" 2>/dev/null \
    && pg_dir=/var/tmp/doithoai-postgres-$(echo "$var" | sha1sum | cut -c1-10)
  [ -n "$bin" ] && [ -f "$pg_dir/data/PG_VERSION" ] || return 0
  if as_pg "$bin/pg_ctl" -D "$pg_dir/data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null && say "postgresql stopped"
  fi
}

ferret_up() {
  local pidfile=$run_dir/ferretdb.pid log=$log_dir/ferretdb.log
  if alive "$pidfile"; then
    if [ "$(cat "$run_dir/ferretdb.stamp" 2>/dev/null)" = "$(ferret_stamp)" ]; then
      wait_for ferretdb mongo "127.0.0.1:$mongo_port" "$pidfile" "$log" 30
      say "ferretdb already running on 127.0.0.1:$mongo_port (reused)"
      return
    fi
    # Its source changed since it started (a pull, a branch): the proxy's guarantees are
    # in that source, so the old program must not be reused.
    say "ferretdb: its source changed since it started; restarting it"
    stop ferretdb "$pidfile"
  fi
  port_busy "$mongo_port" && die "port $mongo_port is taken by another process; stop it or set MONGO_PORT"
  ferret_build
  pg_up
  # FerretDB spends a fifth of its CPU collecting garbage at Go's default GOGC=100
  # (decoding every document allocates); 400 cut its CPU per find and update by a
  # quarter to a third here, for a heap of tens of MB more.
  GOGC=${FERRETDB_GOGC:-400} nohup "$ferret_dir/bin/ferretdb" -listen "127.0.0.1:$mongo_port" \
    -postgresql-url "postgres://ferret@127.0.0.1:$pg_port/ferretdb?pool_max_conns=50" >"$log" 2>&1 &
  echo $! >"$pidfile"
  ferret_stamp >"$run_dir/ferretdb.stamp"
  wait_for ferretdb mongo "127.0.0.1:$mongo_port" "$pidfile" "$log" 30
  say "ferretdb up on 127.0.0.1:$mongo_port (PostgreSQL on 127.0.0.1:$pg_port, data: $pg_dir)"
}

stop() {  # stop NAME PIDFILE
  local pidfile=$2 pid i
  alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for ((i = 0; i < 120; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$pidfile"
  say "$1 stopped"
}

[ -x "$python" ] || die "$python not found; run 'make venv' first"
mkdir -p "$log_dir" "$run_dir"
case "${1:-}" in
  up) ferret_up & f=$!; kafka_up; wait $f ;;
  down) stop kafka "$run_dir/kafka.pid"; stop ferretdb "$run_dir/ferretdb.pid"; pg_down ;;
  status)
    for n in kafka ferretdb; do
      if alive "$run_dir/$n.pid"; then echo "$n: running (pid $(cat "$run_dir/$n.pid"))"; else echo "$n: stopped"; fi
    done
    if [ -f "$pg_dir/data/postmaster.pid" ]; then echo "postgresql: running"; else echo "postgresql: stopped"; fi ;;
  *) die "usage: deploy/infra.sh up|down|status" ;;
esac
