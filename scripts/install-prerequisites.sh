#!/usr/bin/env bash
# Installs with apt-get what `make setup` expects on the host and does not install itself:
# Python 3.11 (with venv), a Java 17 JDK, Maven and iproute2, on Debian 12 or any apt-based host whose packages
# include python3.11 and openjdk-17. Only what is missing is installed, so a second run changes
# nothing. Run as root. Everything else (the Python environments, Pulsar, the Flink connector
# jars) is installed by `make setup` into the checkout.
set -euo pipefail

missing=()
if ! command -v python3.11 >/dev/null 2>&1; then
    missing+=(python3.11 python3.11-venv)
fi
java_major() {
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}
# The JDK, not only a runtime: the set-up compiles the project's Java classes with javac.
if ! command -v javac >/dev/null 2>&1 || [ "$(java_major)" != "17" ]; then
    if [ -z "${JAVA_HOME:-}" ] || [ ! -x "${JAVA_HOME}/bin/javac" ]; then
        missing+=(openjdk-17-jdk-headless)
    fi
fi
if ! command -v mvn >/dev/null 2>&1; then
    missing+=(maven)
fi
# `ip`: the edge test puts two Pulsars in network namespaces joined by a link it cuts.
if ! command -v ip >/dev/null 2>&1; then
    missing+=(iproute2)
fi

if [ "${#missing[@]}" -eq 0 ]; then
    echo "==> prerequisites present: python3.11, Java 17 JDK, Maven, iproute2"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${missing[*]} and no apt-get here: install them with this host's package manager" >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing ${missing[*]}: run this script as root (apt-get install needs it)" >&2
    exit 2
fi
echo "==> installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
