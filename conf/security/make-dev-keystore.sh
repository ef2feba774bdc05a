#!/usr/bin/env bash
# Makes the development keystore bundled with apikey-sts. Its private key is public (it is in
# the repository): the server warns at startup while it is in use. Replace it in production:
#   openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=sts.example.com" \
#     -addext "subjectAltName=DNS:sts.example.com" -keyout key.pem -out cert.pem
#   openssl pkcs12 -export -name ballerina -inkey key.pem -in cert.pem -out keystore.p12
# and point keyStorePath / keyStorePassword in micro-gw.conf at it.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
  -subj "/O=apikey-sts DEVELOPMENT KEY - DO NOT USE IN PRODUCTION/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
openssl pkcs12 -export -name ballerina -inkey "$tmp/key.pem" -in "$tmp/cert.pem" \
  -passout pass:ballerina -out dev-keystore.p12
echo "wrote $(pwd)/dev-keystore.p12 (alias ballerina, password ballerina)"
