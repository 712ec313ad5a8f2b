#!/usr/bin/env bash
# Builds the project's container images here, where no registry is reachable (`make images`):
#   1. a Docker engine: Debian's docker.io is installed and dockerd started when none answers;
#   2. a Debian base image made locally: debootstrap (bookworm, from the host's own Debian mirror)
#      and `docker import`, with Java 17 and Python 3.11 (BASE_IMAGE in infra/docker/images.env);
#   3. the images of infra/docker/*/Dockerfile on that base (their BASE build argument; each
#      Dockerfile's default is the official image a user would pull), from the checkout and the
#      artifacts the set-up fetched (.cache/pulsar, .cache/jars): run `make setup` first.
# A second run rebuilds nothing: the base is kept while its package list is unchanged, and the
# engine's layer cache reuses every step whose inputs did not change. Run as root.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=../infra/docker/images.env
. infra/docker/images.env
logs="${RTAI_RUN_DIR:-$root/.run}/logs"
cache="${RTAI_CACHE_DIR:-$root/.cache}/containers"
BASE_SUITE=bookworm
BASE_PACKAGES=ca-certificates,curl,procps,openjdk-17-jre-headless,python3.11,libpython3.11,python3.11-venv,python3-distutils,python3-pip-whl,python3-setuptools-whl,python3-lib2to3

fail() { echo "error: $*" >&2; exit 2; }
step() { echo "==> $*"; }

[ "$(id -u)" -eq 0 ] || fail "run as root: it installs and starts a Docker engine and runs debootstrap"
[ -d .cache/pulsar ] && ls .cache/jars/flink-connectors/*.jar >/dev/null 2>&1 \
    || fail "the set-up's artifacts are missing (.cache/pulsar, .cache/jars): run \`make setup\` first"

install_missing() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    [ "${#missing[@]}" -eq 0 ] && return
    command -v apt-get >/dev/null 2>&1 || fail "${missing[*]} missing and no apt-get here: install them"
    step "installing ${missing[*]} with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

ensure_engine() {
    if docker info >/dev/null 2>&1; then
        return
    fi
    mkdir -p "$logs"
    step "starting dockerd (log: $logs/dockerd.log)"
    setsid dockerd >"$logs/dockerd.log" 2>&1 < /dev/null &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && return
        sleep 1
    done
    tail -n 20 "$logs/dockerd.log" >&2
    fail "dockerd did not answer within 60 s (its log above)"
}

debian_mirror() {
    # The host's own Debian mirror, from its apt sources (deb822 or one-line form).
    local uri
    uri="$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* \
        | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ')"
    [ -n "$uri" ] || fail "no Debian mirror in /etc/apt/sources.list*: debootstrap needs one"
    echo "$uri"
}

ensure_base() {
    local digest stamp rootfs
    digest="$(echo "$BASE_SUITE $BASE_PACKAGES" | sha256sum | cut -c1-16)"
    stamp="$cache/base.stamp"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest $(docker image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null)" ]; then
        step "$BASE_IMAGE up to date"
        return
    fi
    rootfs="$cache/rootfs"
    step "building $BASE_IMAGE with debootstrap ($BASE_SUITE, minbase + $BASE_PACKAGES)"
    rm -rf "$rootfs" && mkdir -p "$rootfs"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$BASE_SUITE" "$rootfs" "$(debian_mirror)" \
        >"$cache/debootstrap.log" 2>&1 || { tail -n 20 "$cache/debootstrap.log" >&2; fail "debootstrap failed (log: $cache/debootstrap.log)"; }
    rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
    tar -C "$rootfs" --exclude=./proc --exclude=./sys --exclude=./dev -c . \
        | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    echo "$digest $(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")" >"$stamp"
}

build() {
    local name="$1" tag="$2" started
    started=$(date +%s)
    step "building $tag (infra/docker/$name/Dockerfile on $BASE_IMAGE; log: $cache/build-$name.log)"
    DOCKER_BUILDKIT=0 docker build --network host --build-arg "BASE=$BASE_IMAGE" \
        -f "infra/docker/$name/Dockerfile" -t "$tag" . >"$cache/build-$name.log" 2>&1 \
        || { tail -n 30 "$cache/build-$name.log" >&2; fail "building $tag failed (log: $cache/build-$name.log)"; }
    echo "    $tag: $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}') ($(($(date +%s) - started)) s)"
}

mkdir -p "$cache"
# The host's extra certificate authorities (a TLS-intercepting proxy's), for the builds' downloads.
find infra/docker/extra-ca -name '*.crt' -delete
cp /usr/local/share/ca-certificates/*.crt infra/docker/extra-ca/ 2>/dev/null || true
install_missing
ensure_engine
ensure_base
images=("$@")
[ "${#images[@]}" -gt 0 ] || images=(pulsar redis feast triton flink prometheus)
for name in "${images[@]}"; do
    case "$name" in
        pulsar) build pulsar "$PULSAR_IMAGE" ;;
        redis) build redis "$REDIS_IMAGE" ;;
        feast) build feast "$FEAST_IMAGE" ;;
        triton) build triton "$TRITON_IMAGE" ;;
        flink) build flink "$FLINK_IMAGE" ;;
        prometheus) build prometheus "$PROMETHEUS_IMAGE" ;;
        *) fail "no image $name (pulsar, redis, feast, triton, flink, prometheus)" ;;
    esac
done
