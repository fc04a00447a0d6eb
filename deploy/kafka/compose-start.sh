#!/bin/sh
# The broker of docker-compose.yml (image apache/kafka): the same template as the local
# broker (server.properties.in: SASL SCRAM-SHA-512, StandardAuthorizer, no access without an
# ACL), its admin and controller passwords made on first start in the shared secrets volume,
# the admin bootstrapped at format time. `kafka-setup` then creates the services' users,
# ACLs and topics (python -m services.cli kafka setup).
set -eu
users=/var/doithoai/kafka/users
mkdir -p "$users"
chown 10001 "$users"  # kafka-setup (the services' image, uid 10001) writes their passwords here
secret() {
  if [ ! -s "$1" ]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$1")
    chown 10001 "$1"  # the uid the services' image runs as
  fi
  cat "$1"
}
admin=$(secret "$users/admin.password")
controller=$(secret "$users/controller.password")
sed -e "s|@KAFKA_PORT@|9092|g" -e "s|@CONTROLLER_PORT@|9093|g" -e "s|@NODE_ID@|1|g" \
    -e "s|@VOTERS@|1@kafka:9093|g" -e "s|@DATA_DIR@|/var/lib/kafka/data|g" \
    -e "s|@REPLICATION@|1|g" -e "s|@MIN_ISR@|1|g" -e "s|@ADMIN_PASSWORD@|$admin|g" \
    -e "s|@CONTROLLER_PASSWORD@|$controller|g" \
    -e "s|^listeners=.*|listeners=BROKER://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093|" \
    -e "s|^advertised.listeners=.*|advertised.listeners=BROKER://kafka:9092|" \
    /opt/doithoai/server.properties.in >/tmp/server.properties
cat >/tmp/admin.properties <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
PROPS
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  /opt/kafka/bin/kafka-storage.sh format -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
    -c /tmp/server.properties --add-scram "SCRAM-SHA-512=[name=admin,password=$admin]"
fi
exec /opt/kafka/bin/kafka-server-start.sh /tmp/server.properties
