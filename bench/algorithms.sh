#!/usr/bin/env bash
# Keep-alive issuance per signing algorithm: one server per algorithm (RS256 and PS256 on the
# provider signer with the dev keystore's RSA-2048 key, ES256 and EdDSA with the test fixtures'
# keys), each driven by `wrk -t2 -c16` with GET /apikey, one after the other in the same run.
# Prints `BENCH alg.<name>.{rps,p50,p99,server_us,client_us,errors}` lines and the ES256/RS256
# keys/s ratio. Run alone (`bash bench/algorithms.sh`, after a release build) or from
# bench/run.sh. Environment: DUR (seconds per run, default 10), WARM (default 2), BIN (default
# target/release/apikey-sts).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-10}
WARM=${WARM:-2}
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/apikey-sts}
HELPER=$ROOT/bench/helper.py
AUTH="Authorization: Basic YWRtaW46YWRtaW4="
FIX=$ROOT/tests/fixtures/algorithms
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

WORK=$(mktemp -d /tmp/apikey-sts-alg.XXXXXX)
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"

# config NAME KEYSTORE ALIAS [ALGORITHM]: the bench config, TLS kept on the dev keystore, the
# issuer on KEYSTORE's ALIAS (password ballerina).
config() {
    make_config provider "" |
        sed -e '/^\[listenerConfig\]/a\  certificateAlias = "ballerina"' \
            -e "/^ *\[apikey.issuer.tokenConfig\]/,/validityTime/{
                s#keyStorePath = .*#keyStorePath = \"$2\"#
                s#certificateAlias = .*#certificateAlias = \"$3\"#
            }" >"$WORK/$1.conf"
    if [ -n "${4:-}" ]; then
        sed -i "s/^\( *\)validityTime = -1$/&\n\1algorithm = \"$4\"/" "$WORK/$1.conf"
    fi
}

for spec in "rs256 $ROOT/conf/security/dev-keystore.p12 ballerina" \
    "ps256 $ROOT/conf/security/dev-keystore.p12 ballerina PS256" \
    "es256 $FIX/es256.p12 es256" \
    "eddsa $FIX/ed25519.p12 ed25519"; do
    # shellcheck disable=SC2086
    set -- $spec
    config "$@"
    "$BIN" --config "$WORK/$1.conf" 2>"$WORK/$1.log" &
    SERVER_PID=$!
    for _ in $(seq 500); do
        grep -q 'listening on https://' "$WORK/$1.log" && break
        sleep 0.01
    done
    port=$(sed -n 's#.*listening on https://127.0.0.1:\([0-9]*\).*#\1#p' "$WORK/$1.log")
    [ -n "$port" ] || { cat "$WORK/$1.log" >&2; exit 1; }
    url=https://127.0.0.1:$port/apikey
    # The algorithm the server signs with, from one key's header (unpadded base64: base64 -d
    # decodes it all but complains about the end).
    alg=$(curl -sk -H "$AUTH" "$url" | cut -d. -f1 | tr '_-' '/+' |
        { base64 -d 2>/dev/null || true; } | sed -n 's/.*"alg":"\([^"]*\)".*/\1/p')
    echo "== alg.$1: $alg, wrk -t2 -c16 -d${DUR}s" >&2
    wrk -t2 -c16 -d"${WARM}s" -H "$AUTH" "$url" >/dev/null
    python3 "$HELPER" wrk "alg.$1" "$SERVER_PID" -t2 -c16 -d"${DUR}s" --latency -H "$AUTH" \
        "$url" 2>/dev/null | tee -a "$WORK/results"
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
done
awk '$2 == "alg.rs256.rps" { rs = $3 } $2 == "alg.es256.rps" { es = $3 }
     END { if (rs > 0) printf "BENCH alg.es256_vs_rs256 %.2f\n", es / rs }' "$WORK/results"
