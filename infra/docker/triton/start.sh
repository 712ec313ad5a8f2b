#!/bin/sh
# tritonserver as the local stack starts it (rtai/stack/triton.py), on /models, configured by the
# TRITON_* variables. The python backend's stub needs libpython3.11 and finds the environment
# through python3 on PATH.
set -eu
site=/opt/venv/lib/python3.11/site-packages
libdir="$(python3.11 -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"
export LD_LIBRARY_PATH="${site}/nvidia_pytriton.libs:${libdir}"
exec "${site}/pytriton/tritonserver/bin/tritonserver" \
    --model-repository=/models --backend-directory=/opt/rtai/backends \
    --http-port="${TRITON_HTTP_PORT}" --grpc-port="${TRITON_GRPC_PORT}" --metrics-port="${TRITON_METRICS_PORT}" \
    --http-address="${TRITON_ADDRESS}" --grpc-address="${TRITON_ADDRESS}" --metrics-address="${TRITON_ADDRESS}" \
    --model-control-mode=explicit --load-model='*' --exit-timeout-secs=5 --log-verbose=0 "$@"
