#!/usr/bin/env bash
# Installs s3s-fs (a real S3 server over HTTP that checks SigV4 signatures and keeps objects on
# disk; crates.io, Apache-2.0) into a cached folder, once, for the S3 runs of the attachment
# tests. Prints the binary's path on its last line. Exits non-zero when it cannot be installed.
#
#   MISSIVE_TOOLS_DIR   where to install (default: ~/.cache/missive-tools)
set -euo pipefail
ROOT=${MISSIVE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/missive-tools}
VERSION=${MISSIVE_S3S_VERSION:-0.14.1}
BIN=$ROOT/bin/s3s-fs
if [ -x "$BIN" ] && "$BIN" --help >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$ROOT"
echo "installing s3s-fs $VERSION into $ROOT (once; a few minutes on two cores)" >&2
# Its own target folder, so it never shares locks or artefacts with the project's builds.
CARGO_TARGET_DIR=$ROOT/build nice -n 10 cargo install s3s-fs --version "$VERSION" \
  --features binary --locked --root "$ROOT" --quiet >&2
rm -rf "$ROOT/build"
"$BIN" --help >/dev/null
echo "$BIN"
