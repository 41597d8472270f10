#!/usr/bin/env bash
# Apache Kafka (KRaft, one node) as helpstream's compose file runs it: SASL/SCRAM-SHA-512 on every client
# listener, ACLs enforced by the StandardAuthorizer with nothing allowed without one, and the controller on the
# container's loopback. The SCRAM users are added when the storage is first formatted; `helpstream acl apply`
# (the compose file's `acl` service) then grants each principal its ACLs. The test suite runs this same script.
# A password changed in .env after the first start is not applied (the storage is formatted once): change it with
# kafka-configs.sh --alter --add-config 'SCRAM-SHA-512=[password=...]' --entity-type users --entity-name NAME.
set -euo pipefail

: "${KAFKA_HOME:=/opt/kafka}"
: "${KAFKA_DATA_DIR:=/var/lib/kafka/data}"
: "${KAFKA_CONFIG_DIR:=/tmp/helpstream-kafka}"
: "${KAFKA_CLIENT_PORT:=9092}"         # other containers: kafka:9092
: "${KAFKA_HOST_PORT:=29092}"          # published to the host's loopback only
: "${KAFKA_CONTROLLER_PORT:=9093}"     # never leaves the container
: "${KAFKA_ADVERTISED_HOST:=kafka}"
: "${KAFKA_HOST_ADVERTISED_HOST:=localhost}"
# Letters, digits, - and _ only: the passwords go into the JAAS configuration and --add-scram as they are.
for role in ADMIN WORKER OPERATOR CHAT_PLATFORM CMS AGENT_UI; do
  variable="KAFKA_${role}_PASSWORD"
  value="${!variable:-}"
  if [[ ! "$value" =~ ^[A-Za-z0-9_-]{16,}$ || "$value" == change-me* ]]; then
    echo "start.sh: set $variable (in .env) to 16 or more letters, digits, - or _, not the example's" >&2
    exit 2
  fi
done

mkdir -p "$KAFKA_CONFIG_DIR"
umask 077
config="$KAFKA_CONFIG_DIR/server.properties"
scram="org.apache.kafka.common.security.scram.ScramLoginModule required"
cat > "$config" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}
listeners=INTERNAL://:${KAFKA_CLIENT_PORT},HOST://:${KAFKA_HOST_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=INTERNAL://${KAFKA_ADVERTISED_HOST}:${KAFKA_CLIENT_PORT},HOST://${KAFKA_HOST_ADVERTISED_HOST}:${KAFKA_HOST_PORT}
listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,HOST:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.internal.scram-sha-512.sasl.jaas.config=${scram} username="admin" password="${KAFKA_ADMIN_PASSWORD}";
listener.name.host.scram-sha-512.sasl.jaas.config=${scram};
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
# admin: the broker's own login and the one that applies ACLs; ANONYMOUS: the controller listener, on loopback.
super.users=User:admin;User:ANONYMOUS
log.dirs=${KAFKA_DATA_DIR}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
num.partitions=1
PROPERTIES
cat > "$KAFKA_CONFIG_DIR/admin.properties" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=${scram} username="admin" password="${KAFKA_ADMIN_PASSWORD}";
PROPERTIES

users=()
add_user() { users+=(--add-scram "SCRAM-SHA-512=[name=$1,password=$2]"); }
add_user admin "$KAFKA_ADMIN_PASSWORD"
add_user helpstream-worker "$KAFKA_WORKER_PASSWORD"
add_user helpstream-operator "$KAFKA_OPERATOR_PASSWORD"
add_user chat-platform "$KAFKA_CHAT_PLATFORM_PASSWORD"
add_user cms "$KAFKA_CMS_PASSWORD"
add_user agent-ui "$KAFKA_AGENT_UI_PASSWORD"
"$KAFKA_HOME/bin/kafka-storage.sh" format --ignore-formatted --cluster-id "${KAFKA_CLUSTER_ID:-$("$KAFKA_HOME/bin/kafka-storage.sh" random-uuid)}" \
  --config "$config" "${users[@]}" > /dev/null
exec "$KAFKA_HOME/bin/kafka-server-start.sh" "$config"
