#!/usr/bin/env bash
# Runs the service exactly as README says (bundled config, port 9095) and drives it with the
# spec's curl commands; verifies the key with openssl against the keystore's certificate.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
cargo build --locked -q
"${CARGO_TARGET_DIR:-target}/debug/apikey-sts" --config conf/micro-gw.conf 2>"$work/log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.1; done
grep "listening on" "$work/log"

# Spec command 1.
token=$(curl -sk -X GET "https://localhost:9095/apikey" -H "Authorization:Basic YWRtaW46YWRtaW4=")
# Spec command 2: validityTime 600.
token600=$(curl -sk -X GET "https://localhost:9095/apikey" -H "Content-Type: application/json" \
  -H "Authorization:Basic YWRtaW46YWRtaW4=" -d '{"validityTime":600}')
# The brief's form.
token_u=$(curl -sk -u admin:admin https://localhost:9095/apikey)

openssl pkcs12 -in conf/security/dev-keystore.p12 -passin pass:ballerina -nokeys -clcerts \
  | openssl x509 -pubkey -noout > "$work/pub.pem"
b64url_decode() { local s=${1//-/+}; s=${s//_//}; while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done; printf '%s' "$s" | base64 -d; }
for t in "$token" "$token600" "$token_u"; do
  printf '%s' "${t%.*}" > "$work/data"
  b64url_decode "${t##*.}" > "$work/sig"
  openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/sig" "$work/data"
done
claims=$(b64url_decode "$(echo "$token600" | cut -d. -f2)")
echo "claims: $claims"
python3 - "$claims" <<'PY'
import json, sys
c = json.loads(sys.argv[1])
assert c["exp"] == c["iat"] + 600, c
assert c["sub"] == "admin" and c["keytype"] == "PRODUCTION", c
PY

# Bad credentials: 401, and the server goes on serving.
code=$(curl -sk -o /dev/null -w '%{http_code}' -u admin:wrong https://localhost:9095/apikey)
[ "$code" = 401 ] || { echo "expected 401, got $code"; exit 1; }
code=$(curl -sk -o /dev/null -w '%{http_code}' -u admin:admin https://localhost:9095/apikey)
[ "$code" = 200 ] || { echo "expected 200 after a 401, got $code"; exit 1; }
# HTTP/1.0 and TLS 1.2 from curl too.
# The answer's status line says HTTP/1.1 (RFC 9110 lets a server answer 1.0 requests so); the
# status is what must be right.
code=$(curl -sk --http1.0 --tlsv1.2 --tls-max 1.2 -u admin:admin -o /dev/null -w '%{http_code}' https://localhost:9095/apikey)
echo "HTTP/1.0 over TLS 1.2: $code"
[ "$code" = 200 ] || { echo "expected 200 over HTTP/1.0 and TLS 1.2, got $code"; exit 1; }
echo "curl smoke: ok"
