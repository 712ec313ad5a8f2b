#!/bin/sh
# Used by the images' Dockerfiles: installs uv, then the environment of LOCK into /opt/venv, exactly
# as the set-up does (`uv pip sync` of the project's lock file). The image needs python3.11 with
# its venv module (python:3.11-slim, or the local Debian base).
set -eu
# pip and uv trust the system's store, which holds infra/docker/extra-ca/ (update-ca-certificates).
export PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
lock="$1"
uv_version="$2"
python3.11 -m venv /opt/uv
/opt/uv/bin/pip install --quiet --no-cache-dir "uv==${uv_version}"
/opt/uv/bin/uv venv --quiet --python python3.11 /opt/venv
/opt/uv/bin/uv pip sync --quiet --no-cache --python /opt/venv/bin/python "${lock}"
