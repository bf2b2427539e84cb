#!/usr/bin/env bash
# Makes the development PKI with Cloudflare's CFSSL (Debian: golang-cfssl):
# a CA, a server certificate for localhost, two client certificates whose
# Common Names are the identities the ACL knows: `root` and `nobody`, and a
# peer certificate (server and client auth, identity `peer`) with which the
# servers of a cluster call each other (chapter 7).
#
#   cfssl/gencert.sh [OUT_DIR]     (default: certs/ beside this folder)
#
# The CA's private key is left out of OUT_DIR: nothing at run time needs it,
# and a CA key in a repository is a CA anyone can sign with.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../certs}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

for tool in cfssl cfssljson; do
  command -v "$tool" >/dev/null || { echo "gencert.sh: $tool not found (apt-get install golang-cfssl)" >&2; exit 1; }
done

# The CA: self-signed, the root every other certificate chains to.
cfssl gencert -initca "$here/ca-csr.json" | cfssljson -bare ca

# The server: "server auth" usage, SANs for localhost (webpki ignores the CN).
cfssl gencert -ca ca.pem -ca-key ca-key.pem -config "$here/ca-config.json" \
  -profile server "$here/server-csr.json" | cfssljson -bare server

# The clients: "client auth" usage; -cn sets the identity.
for identity in root nobody; do
  cfssl gencert -ca ca.pem -ca-key ca-key.pem -config "$here/ca-config.json" \
    -profile client -cn "$identity" "$here/client-csr.json" | cfssljson -bare "$identity-client"
done

# The peer: both usages, since a server dials its peers with it as well.
cfssl gencert -ca ca.pem -ca-key ca-key.pem -config "$here/ca-config.json" \
  -profile peer "$here/peer-csr.json" | cfssljson -bare peer

cp ca.pem server.pem server-key.pem root-client.pem root-client-key.pem \
  nobody-client.pem nobody-client-key.pem peer.pem peer-key.pem "$out/"
echo "gencert.sh: wrote $(ls "$out" | grep -c '\.pem$') PEM files to $out"
