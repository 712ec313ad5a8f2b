#!/bin/sh
# The feature server as the local stack starts it (rtai/stack/feast_server.py), configured by the
# FEAST_* variables; the repository is applied first when its registry is not there yet, with the
# push sources' empty offline files (rtai features apply does the same).
set -eu
if [ ! -f data/registry.db ]; then
    /opt/venv/bin/python /opt/rtai/apply_repo.py . "${FEAST_FEATURE_STORE_YAML}"
fi
exec /opt/venv/bin/python /opt/rtai/serve_with_metrics.py "${FEAST_METRICS_PORT}" \
    -f "${FEAST_FEATURE_STORE_YAML}" serve --metrics --host "${FEAST_HOST}" --port "${FEAST_PORT}" \
    --workers "${FEAST_WORKERS}" --max-requests 0 --no-access-log
