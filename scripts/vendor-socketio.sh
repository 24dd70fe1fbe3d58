#!/usr/bin/env bash
# Vendors the official Socket.IO browser client, which the server serves at /socket.io/socket.io.js.
#
# The package is fetched with `npm pack` at a pinned version and its tarball is checked against the
# pinned integrity before anything is copied, so a changed or tampered package fails loudly here
# instead of shipping to browsers. Run it again only to move the pin (update both lines below).
set -euo pipefail

VERSION="4.8.4"
INTEGRITY="sha512-7wjKAvVXYOJsbmUgkWbnhPD4bFpkqrUR0++XOjpGFmqDqsqV1CI93VTraeExLxpjxEqrWgFoSRZu1ihjLWfkAA=="

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
tarball="$(npm pack --silent "socket.io-client@$VERSION" | tail -n 1)"
if [[ -z "$tarball" || ! -f "$tarball" ]]; then
  echo "vendor-socketio: npm pack socket.io-client@$VERSION produced no tarball" >&2
  exit 1
fi

actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | openssl base64 -A)"
if [[ "$actual" != "$INTEGRITY" ]]; then
  echo "vendor-socketio: INTEGRITY MISMATCH for socket.io-client@$VERSION" >&2
  echo "  expected $INTEGRITY" >&2
  echo "  got      $actual" >&2
  exit 1
fi

tar -xzf "$tarball"
for f in package/dist/socket.io.min.js package/LICENSE; do
  if [[ ! -f "$f" ]]; then
    echo "vendor-socketio: $f missing from the socket.io-client@$VERSION tarball" >&2
    exit 1
  fi
done

mkdir -p "$dest"
cp package/dist/socket.io.min.js "$dest/socket.io.min.js"
cp package/LICENSE "$dest/socket.io-client.LICENSE"
echo "vendor-socketio: socket.io-client@$VERSION (integrity verified) -> static/vendor/"
