#!/usr/bin/env bash
# `make compose-up` / `make compose-down`: infra/docker/compose.yaml with the image names of
# infra/docker/images.env (built by scripts/container-images.sh). `up` starts the stack, waits for
# every service's health check and for both jobs' submission, and prints the state; `down` stops
# and removes the containers (the named volumes stay: `scripts/compose.sh down --volumes` removes them).
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "error: $*" >&2; exit 2; }
compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose -p rtai --env-file infra/docker/images.env -f infra/docker/compose.yaml "$@"
    else
        if ! command -v docker-compose >/dev/null 2>&1; then
            [ "$(id -u)" -eq 0 ] || fail "no docker compose and no docker-compose: install docker-compose (apt-get)"
            echo "==> installing docker-compose with apt-get"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
        fi
        docker-compose -p rtai --env-file infra/docker/images.env -f infra/docker/compose.yaml "$@"
    fi
}
LONG_RUNNING=(pulsar redis feast triton jobmanager taskmanager prometheus)
SUBMITS=(submit-inference-job submit-feature-job)
TIMEOUT_S=${COMPOSE_TIMEOUT_S:-300}

case "${1:-}" in
    up)
        ls triton_repo/*/config.pbtxt >/dev/null 2>&1 \
            || fail "no model in triton_repo/: register one first (make demo, or rtai model train and rtai model register)"
        for port in 6650 8080 6566 8000 8001 6379 8081 6123 9090; do
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                fail "port $port is in use (the process stack? make down)"
            fi
        done
        echo "==> starting the compose stack (infra/docker/compose.yaml)"
        compose up -d
        echo "==> waiting for the health checks and the jobs' submission (at most ${TIMEOUT_S} s)"
        deadline=$((SECONDS + TIMEOUT_S))
        while :; do
            pending=()
            for service in "${LONG_RUNNING[@]}"; do
                id="$(compose ps -q "$service")"
                [ "$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null)" = healthy ] || pending+=("$service")
            done
            for service in "${SUBMITS[@]}"; do
                id="$(compose ps -q "$service")"
                state="$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$id" 2>/dev/null || echo missing)"
                case "$state" in
                    "exited 0") ;;
                    "exited "*) compose logs --tail 30 "$service" >&2; fail "$service failed (its log above)" ;;
                    *) pending+=("$service") ;;
                esac
            done
            [ "${#pending[@]}" -eq 0 ] && break
            if [ "$SECONDS" -ge "$deadline" ]; then
                compose ps >&2
                fail "not ready after ${TIMEOUT_S} s: ${pending[*]} (docker logs of those containers say why)"
            fi
            sleep 3
        done
        compose ps
        echo "==> up: Flink's UI at http://127.0.0.1:8081, predictions on persistent://public/default/fraud-predictions"
        ;;
    down)
        shift
        compose down "$@"
        ;;
    *)
        fail "usage: scripts/compose.sh up | down [--volumes]"
        ;;
esac
