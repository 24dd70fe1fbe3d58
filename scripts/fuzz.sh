#!/usr/bin/env bash
# Fuzzes the decoding and input checks of every client payload (fuzz/fuzz_targets/) with
# cargo-fuzz (libFuzzer; needs a nightly toolchain and `cargo install cargo-fuzz`).
#
#   scripts/fuzz.sh            # 10 minutes per target
#   scripts/fuzz.sh 20         # 20 seconds per target (what scripts/test.sh runs in CI)
#
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script. The stable,
# always-run counterpart is the unit test `no_payload_of_any_shape_panics_a_decoder_…`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET=${1:-600}
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz on a nightly toolchain is needed: rustup toolchain install nightly && cargo install cargo-fuzz" >&2
  exit 2
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for target in $(cargo +nightly fuzz list); do
  # New inputs go to a scratch corpus; the committed seeds in corpus/<target> stay as they are.
  mkdir -p "$WORK/$target" "corpus/$target"
  echo "==> fuzzing $target for ${SECONDS_PER_TARGET}s"
  cargo +nightly fuzz run "$target" "$WORK/$target" "corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -print_final_stats=1
done
