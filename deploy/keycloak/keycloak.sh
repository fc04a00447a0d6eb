#!/usr/bin/env bash
# The local OpenID Connect provider: Keycloak from Maven Central, on loopback, with the
# realm in realm-doithoai.json (the portal's client and one demo user per role and scope).
# Used by `make run` and `make test` like deploy/infra.sh: started once, reused, data
# (an H2 file) under var/keycloak/. A province points the portal and the services at
# its own provider instead (PORTAL_OIDC_ISSUER, JWT_JWKS_URL, JWT_ISSUER).
#
#   deploy/keycloak/keycloak.sh up | down | status | env
#
# Environment (defaults in brackets):
#   DOITHOAI_VAR     data, logs and caches                   [<repo>/var]
#   KEYCLOAK_PORT    HTTP port on 127.0.0.1                  [8180]
#   KEYCLOAK_HEAP    JVM heap                                [-Xms128m -Xmx640m]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
var=${DOITHOAI_VAR:-$repo/var}
port=${KEYCLOAK_PORT:-8180}
version=$(sed -n 's:.*<keycloak.version>\(.*\)</keycloak.version>.*:\1:p' "$here/pom.xml")
kc_dir=$var/keycloak
home=$kc_dir/dist/keycloak-$version
pidfile=$var/run/keycloak.pid
log=$var/logs/keycloak.log
realm_url=http://127.0.0.1:$port/realms/doithoai

die() { echo "keycloak: $*" >&2; exit 1; }
say() { echo "keycloak: $*"; }
alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
answers() { curl -sf -o /dev/null --max-time 2 "$realm_url/.well-known/openid-configuration"; }

java_home() {
  # Keycloak 26 runs on Java 17 or newer; prefer 21, then 17, then the default java.
  for j in /usr/lib/jvm/java-21-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-amd64; do
    [ -x "$j/bin/java" ] && { echo "$j"; return; }
  done
  dirname "$(dirname "$(readlink -f "$(command -v java)")")"
}

fetch() {
  [ -x "$home/bin/kc.sh" ] && return 0
  command -v mvn >/dev/null || die "'mvn' is not installed (apt-get install maven)"
  say "fetching Keycloak $version from Maven Central (once)"
  mkdir -p "$kc_dir"
  mvn -q -f "$here/pom.xml" dependency:unpack -DoutputDirectory="$kc_dir/dist" \
    -DmarkersDirectory="$kc_dir/markers" \
    || die "mvn could not fetch org.keycloak:keycloak-quarkus-dist:$version"
  [ -x "$home/bin/kc.sh" ] || die "no $home/bin/kc.sh after unpacking"
}

build() {
  # `kc.sh build` once per version and build options, so that each start is --optimized.
  local stamp=$home/.built options="--db=dev-file --health-enabled=false"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$options" ] && return 0
  say "building Keycloak (once)"
  JAVA_HOME=$(java_home) "$home/bin/kc.sh" build $options >"$kc_dir/build.log" 2>&1 \
    || { tail -n 20 "$kc_dir/build.log" >&2; die "kc.sh build failed"; }
  echo "$options" >"$stamp"
}

up() {
  local sum
  sum=$(sha256sum "$here/realm-doithoai.json" | cut -d' ' -f1)
  if alive && answers; then
    if [ "$(cat "$kc_dir/realm.sha" 2>/dev/null)" = "$sum" ]; then
      say "already running on $port"; return 0
    fi
    say "the realm file changed: restarting with a fresh database"
    down
  fi
  command -v curl >/dev/null || die "'curl' is not installed"
  fetch
  build
  mkdir -p "$var/run" "$var/logs" "$home/data/import"
  # A changed realm file means a fresh database: --import-realm skips existing realms.
  if [ "$(cat "$kc_dir/realm.sha" 2>/dev/null)" != "$sum" ]; then
    rm -rf "$home/data/h2"
    echo "$sum" >"$kc_dir/realm.sha"
  fi
  cp "$here/realm-doithoai.json" "$home/data/import/"
  say "starting on 127.0.0.1:$port"
  JAVA_HOME=$(java_home) JAVA_OPTS_KC_HEAP="${KEYCLOAK_HEAP:--Xms128m -Xmx640m}" \
    setsid "$home/bin/kc.sh" start --optimized --import-realm \
    --http-enabled=true --http-host=127.0.0.1 --http-port="$port" \
    --hostname-strict=false --proxy-headers=xforwarded \
    >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local i
  for ((i = 0; i < 600; i++)); do
    answers && { say "ready: $realm_url"; return 0; }
    alive || { tail -n 30 "$log" >&2; die "Keycloak exited during start-up; see $log"; }
    sleep 0.5
  done
  die "Keycloak did not answer within 300s; see $log"
}

down() {
  if alive; then
    local pid
    pid=$(cat "$pidfile")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null || true
    say "stopped"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) if alive && answers; then say "running: $realm_url"; else say "not running"; exit 1; fi ;;
  env) echo "$realm_url" ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
