#!/bin/sh
# JobManager: its REST API answers (FLINK_REST_URL, default the local one). TaskManager: its JVM
# is the container's process. Other commands: healthy while they run.
set -eu
case "$(cat /tmp/rtai-role 2>/dev/null)" in
    jobmanager) curl -fsS "${FLINK_REST_URL:-http://127.0.0.1:8081}/config" >/dev/null ;;
    taskmanager) grep -qa TaskManagerRunner /proc/1/cmdline ;;
    *) true ;;
esac
