#!/usr/bin/env bash
# Installs the real clients and tools the end-to-end tests drive (idempotent; needs root or sudo
# for apt). Nothing is installed when everything is already present.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_pkgs=()
command -v openssl >/dev/null || apt_pkgs+=(openssl)
command -v curl >/dev/null || apt_pkgs+=(curl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_pkgs+=(nginx-light)
command -v python3 >/dev/null || apt_pkgs+=(python3)
# Debian splits `python3 -m venv` (ensurepip) into its own package.
python3 -c 'import ensurepip' 2>/dev/null || apt_pkgs+=(python3-venv)
# systemd-analyze verifies the unit file in dist/systemd.
command -v systemd-analyze >/dev/null || apt_pkgs+=(systemd)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || apt_pkgs+=(haproxy)
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || apt_pkgs+=(redis-server)
# Caddy's forward_auth drives /validate in tests/e2e_oauth.rs.
command -v caddy >/dev/null || [ -x /usr/bin/caddy ] || apt_pkgs+=(caddy)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  echo "install-tools: apt-get install ${apt_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

# An independent JWT implementation for the JWKS interoperability test, in a virtual
# environment of its own under target/ (the tests run target/py-venv/bin/python), so that the
# system Python is never changed.
venv="$(cd "$(dirname "$0")/.." && pwd)/target/py-venv"
if ! "$venv/bin/python" -c 'import jwt, cryptography' 2>/dev/null; then
  echo "install-tools: pip install pyjwt cryptography into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check pyjwt cryptography
fi
# An independent OAuth 2.0 client (client credentials, from the discovery document alone).
if ! "$venv/bin/python" -c 'import authlib, requests' 2>/dev/null; then
  echo "install-tools: pip install authlib requests into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check authlib requests
fi
echo "install-tools: ok"
