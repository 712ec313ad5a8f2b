#!/bin/sh
# jobmanager | taskmanager: that Flink process in the foreground; anything else is run as is (for
# example `flink run ...`, with $FLINK_HOME/bin on PATH). As in Flink's own image, FLINK_PROPERTIES
# holds "key: value" lines added to the configuration (jobmanager.rpc.address, slots, ...).
set -eu
conf="$FLINK_HOME/conf/config.yaml"
if [ -n "${FLINK_PROPERTIES:-}" ] && ! grep -q '^# FLINK_PROPERTIES' "$conf"; then
    printf '# FLINK_PROPERTIES\n%s\n' "$FLINK_PROPERTIES" >> "$conf"
fi
export PATH="$FLINK_HOME/bin:$PATH"
case "${1:-}" in
    jobmanager) shift; echo jobmanager > /tmp/rtai-role; exec jobmanager.sh start-foreground "$@" ;;
    taskmanager) shift; echo taskmanager > /tmp/rtai-role; exec taskmanager.sh start-foreground "$@" ;;
    *) exec "$@" ;;
esac
