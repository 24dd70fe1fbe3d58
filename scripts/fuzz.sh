#!/usr/bin/env bash
# Fuzzes the decoding and input checks of every client payload (fuzz/fuzz_targets/) with
# cargo-fuzz and libFuzzer, on the stable toolchain.
#
#   scripts/fuzz.sh            # 10 minutes per target
#   scripts/fuzz.sh 25         # 25 seconds per target (what scripts/test.sh runs every time)
#
# cargo-fuzz comes from crates.io into a cached folder (scripts/install-cargo-fuzz.sh). The
# targets are built without a sanitizer (`--sanitizer none`): libFuzzer's coverage
# instrumentation (SanitizerCoverage) takes only stable `-C` flags, so no nightly toolchain and
# no RUSTC_BOOTSTRAP are needed, and the code under test is safe Rust, where AddressSanitizer
# finds nothing a panic would not (docs/security.md, "Fuzzing"). Debug assertions and overflow
# checks stay on. The build goes to a folder kept between runs, outside the clone, so only the
# changed crates are rebuilt:
#
#   MISSIVE_FUZZ_TARGET_DIR   the fuzz build's target folder (default: ~/.cache/missive-fuzz-target)
#   MISSIVE_TOOLS_DIR         where cargo-fuzz is installed (default: ~/.cache/missive-tools)
#
# fuzz/Cargo.lock is written from the main Cargo.lock on every run (only libfuzzer-sys and its
# own dependencies are added), so the fuzzed code is built from the versions the server ships.
#
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script (exit 1); a tool
# that cannot be installed or a build that fails exits 2. The always-run stable counterpart is
# the unit test `no_payload_of_any_shape_panics_a_decoder_…`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_PER_TARGET=${1:-600}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}
TARGET_DIR=${MISSIVE_FUZZ_TARGET_DIR:-$CACHE/missive-fuzz-target}

if ! CARGO_FUZZ=$("$ROOT/scripts/install-cargo-fuzz.sh" | tail -1) || [ ! -x "$CARGO_FUZZ" ]; then
  echo "cargo-fuzz could not be installed (scripts/install-cargo-fuzz.sh)" >&2
  exit 2
fi
# Niced to the lowest priority: beside the test suites (scripts/test.sh), the build and the
# fuzzing take only the CPU they leave.
fuzz() { nice -n 19 "$CARGO_FUZZ" fuzz "$@"; }

cd "$ROOT/fuzz"
cp "$ROOT/Cargo.lock" Cargo.lock
mkdir -p "$TARGET_DIR"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for target in $(fuzz list); do
  echo "==> building $target (cargo fuzz build --sanitizer none, into $TARGET_DIR)"
  start=$(date +%s)
  if ! fuzz build --sanitizer none --target-dir "$TARGET_DIR" "$target"; then
    echo "building the fuzz target $target failed" >&2
    exit 2
  fi
  echo "    built in $(( $(date +%s) - start ))s"
  # New inputs go to a scratch corpus; the committed seeds in corpus/<target> stay as they are.
  mkdir -p "$WORK/$target" "corpus/$target"
  echo "==> fuzzing $target for ${SECONDS_PER_TARGET}s"
  fuzz run --sanitizer none --target-dir "$TARGET_DIR" "$target" "$WORK/$target" "corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -print_final_stats=1
done
