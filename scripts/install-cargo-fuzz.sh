#!/usr/bin/env bash
# Installs cargo-fuzz (the cargo subcommand that builds and runs libFuzzer targets; crates.io,
# MIT/Apache-2.0) into a cached folder, once, for scripts/fuzz.sh. Prints the binary's path on
# its last line. Exits non-zero when it cannot be installed.
#
#   MISSIVE_TOOLS_DIR   where to install (default: ~/.cache/missive-tools)
set -euo pipefail
ROOT=${MISSIVE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/missive-tools}
VERSION=${MISSIVE_CARGO_FUZZ_VERSION:-0.13.1}
BIN=$ROOT/bin/cargo-fuzz
if [ -x "$BIN" ] && "$BIN" fuzz --version 2>/dev/null | grep -qF "$VERSION"; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$ROOT"
echo "installing cargo-fuzz $VERSION into $ROOT (once; a few minutes on two cores)" >&2
# Its own target folder, so it never shares locks or artefacts with the project's builds.
CARGO_TARGET_DIR=$ROOT/build-cargo-fuzz nice -n 10 cargo install cargo-fuzz --version "$VERSION" \
  --locked --root "$ROOT" --quiet >&2
rm -rf "$ROOT/build-cargo-fuzz"
"$BIN" fuzz --version >/dev/null
echo "$BIN"
