#!/usr/bin/env bash
# The secure profile's credentials, made on this machine: a local CA, a server certificate
# (127.0.0.1 and localhost) and a client certificate, Flink's PKCS12 key and trust stores,
# Pulsar's secret key and one token per role of infra/security/pulsar-roles.toml (Pulsar's own
# token tool), the Redis users' passwords and ACL file, Triton's admin key. Everything goes
# under $RTAI_RUN_DIR/secrets (default .run/secrets), owner-only (umask 077), never committed.
#
#   scripts/make-credentials.sh            # what is missing (a second run changes nothing)
#   scripts/make-credentials.sh --force    # everything regenerated: new CA, keys and tokens
#
# Needs openssl, keytool (the JDK) and the Pulsar distribution `make setup` unpacks. No secret
# value is printed.
set -euo pipefail
umask 077

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${RTAI_RUN_DIR:-$ROOT/.run}"
CACHE_DIR="${RTAI_CACHE_DIR:-$ROOT/.cache}"
OUT="$RUN_DIR/secrets"
ROLES_FILE="$ROOT/infra/security/pulsar-roles.toml"
DAYS=825

die() { echo "make-credentials: $*" >&2; exit 1; }
say() { echo "==> $*"; }

for tool in openssl keytool python3; do
    command -v "$tool" >/dev/null || die "$tool not found on PATH (openssl: apt-get install openssl; keytool: a JDK, scripts/install-prerequisites.sh)"
done
PULSAR_BIN="$(ls -d "$CACHE_DIR"/pulsar/apache-pulsar-*/bin/pulsar 2>/dev/null | tail -1 || true)"
[ -x "$PULSAR_BIN" ] || die "the Pulsar distribution is not under $CACHE_DIR/pulsar: run \`make setup\` first"

if [ "${1:-}" = "--force" ]; then
    rm -rf "$OUT"
elif [ -n "${1:-}" ]; then
    die "unknown argument ${1} (usage: $0 [--force])"
fi
mkdir -p "$OUT"/{tls,flink,pulsar/tokens,redis,triton}
chmod 700 "$OUT"

random_secret() { openssl rand -hex 32; }

# The CA, and certificates it signs: the servers' (and Flink's internal peers', hence both
# usages) and the clients' (Flink's REST API asks for one).
TLS="$OUT/tls"
if [ ! -f "$TLS/ca.crt" ]; then
    say "a local CA"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$DAYS" -subj "/CN=rtai local CA" \
        -keyout "$TLS/ca.key" -out "$TLS/ca.crt" 2>/dev/null
    rm -f "$TLS/server.crt" "$TLS/client.crt" "$OUT"/flink/*.p12
fi
sign() {  # name, subject CN, extended key usage
    local name=$1 cn=$2 usage=$3
    [ -f "$TLS/$name.crt" ] && return
    say "the $name certificate"
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$cn" \
        -keyout "$TLS/$name.key" -out "$TLS/$name.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$usage" \
        > "$TLS/$name.ext"
    openssl x509 -req -in "$TLS/$name.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial \
        -days "$DAYS" -sha256 -extfile "$TLS/$name.ext" -out "$TLS/$name.crt" 2>/dev/null
    # PKCS#8: the form Pulsar's broker (netty) reads.
    openssl pkcs8 -topk8 -nocrypt -in "$TLS/$name.key" -out "$TLS/$name.key.pk8"
    mv "$TLS/$name.key.pk8" "$TLS/$name.key"
    rm -f "$TLS/$name.csr" "$TLS/$name.ext"
}
sign server rtai-server serverAuth,clientAuth
sign client rtai-client clientAuth

# Flink reads JKS or PKCS12 stores with a password: one keystore (the server certificate, used
# by the REST endpoint and by the internal connections in both directions) and one truststore.
FLINK="$OUT/flink"
if [ ! -f "$FLINK/truststore.p12" ]; then
    say "Flink's key and trust stores"
    random_secret > "$FLINK/store.password"
    openssl pkcs12 -export -in "$TLS/server.crt" -inkey "$TLS/server.key" -name rtai-server \
        -passout "file:$FLINK/store.password" -out "$FLINK/keystore.p12"
    keytool -importcert -noprompt -alias rtai-ca -file "$TLS/ca.crt" -storetype PKCS12 \
        -keystore "$FLINK/truststore.p12" -storepass:file "$FLINK/store.password" >/dev/null
fi

# Pulsar: the key that signs tokens, and a token per role (and the superuser's).
PULSAR="$OUT/pulsar"
if [ ! -f "$PULSAR/secret.key" ]; then
    say "Pulsar's token secret key"
    "$PULSAR_BIN" tokens create-secret-key --output "$PULSAR/secret.key" >/dev/null
    rm -f "$PULSAR"/tokens/*.jwt
fi
ROLES="$(python3 -c 'import sys, tomllib; c = tomllib.load(open(sys.argv[1], "rb")); print(c["superuser"], *c["roles"])' "$ROLES_FILE")"
for role in $ROLES; do
    token="$PULSAR/tokens/$role.jwt"
    [ -f "$token" ] && continue
    say "the Pulsar token of role $role"
    "$PULSAR_BIN" tokens create --secret-key "file://$PULSAR/secret.key" --subject "$role" > "$token.tmp"
    mv "$token.tmp" "$token"
done

# Redis: no default user; `feast` reads and writes keys, `exporter` reads server statistics.
REDIS="$OUT/redis"
if [ ! -f "$REDIS/users.acl" ]; then
    say "the Redis users"
    random_secret > "$REDIS/feast.password"
    random_secret > "$REDIS/exporter.password"
    hash() { printf '%s' "$(cat "$1")" | openssl dgst -sha256 -r | cut -d' ' -f1; }
    {
        echo "user default off"
        echo "user feast on #$(hash "$REDIS/feast.password") ~* &* -@all +@read +@write +@keyspace +@connection -@dangerous"
        echo "user exporter on #$(hash "$REDIS/exporter.password") ~* -@all +@connection +info +ping +dbsize +config|get +client|list +slowlog|get +slowlog|len +latency|latest +memory|stats +select"
    } > "$REDIS/users.acl"
fi

# Triton: the key its model-repository and shared-memory APIs ask for (header `admin-key`).
[ -f "$OUT/triton/admin.key" ] || { say "Triton's admin key"; random_secret > "$OUT/triton/admin.key"; }

# The scoring API: the Bearer token its callers send.
mkdir -p "$OUT/scoring-api"
[ -f "$OUT/scoring-api/token" ] || { say "the scoring API's token"; random_secret > "$OUT/scoring-api/token"; }

chmod -R go-rwx "$OUT"
say "credentials in $OUT"
