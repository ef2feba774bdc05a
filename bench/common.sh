# Sourced by bench/run.sh and bench/ab.sh; needs ROOT (the repository).

# The bundled config on loopback, port 0, absolute keystore paths; $1 = signer, $2 = lines
# appended after the [server] section.
make_config() {
    sed -e 's/host = "0.0.0.0"/host = "127.0.0.1"/' \
        -e 's/httpsPort = 9095/httpsPort = 0/' \
        -e "s#\"security/dev-keystore.p12\"#\"$ROOT/conf/security/dev-keystore.p12\"#" \
        -e "s/^\( *\)validityTime = -1/&\n\1signer = \"$1\"/" \
        "$ROOT/conf/micro-gw.conf"
    printf '\n[server]\nmaxConnections = 2048\n%s\n' "$2"
}
