#!/usr/bin/env bash
# Pulsar standalone in the foreground, set by environment variables (defaults: the local stack's):
# PULSAR_BROKER_PORT 6650, PULSAR_WEB_PORT 8080, PULSAR_BOOKIE_PORT 3181, PULSAR_BIND_ADDRESS
# 127.0.0.1 and PULSAR_ADVERTISED_ADDRESS (default: the bind address; in a compose network, bind
# 0.0.0.0 and advertise the name the clients reach), PULSAR_MEM (the JVM's heap and direct memory).
set -euo pipefail
bind="${PULSAR_BIND_ADDRESS:-127.0.0.1}"
advertised="${PULSAR_ADVERTISED_ADDRESS:-$bind}"
sed -i -e "s/^bindAddress=.*/bindAddress=${bind}/" -e "s/^advertisedAddress=.*/advertisedAddress=${advertised}/" \
    -e "s/^brokerServicePort=.*/brokerServicePort=${PULSAR_BROKER_PORT:-6650}/" \
    -e "s/^webServicePort=.*/webServicePort=${PULSAR_WEB_PORT:-8080}/" \
    /pulsar/conf/standalone.conf
export PULSAR_MEM="${PULSAR_MEM:--Xms256m -Xmx1g -XX:MaxDirectMemorySize=1g}"
export PULSAR_LOG_CONF=/pulsar/conf/log4j2.xml
exec /pulsar/bin/pulsar standalone --config /pulsar/conf/standalone.conf \
    --no-functions-worker --no-stream-storage \
    --metadata-dir /pulsar/data/metadata --bookkeeper-dir /pulsar/data/bookkeeper \
    --bookkeeper-port "${PULSAR_BOOKIE_PORT:-3181}" --advertised-address "${advertised}"
