#!/usr/bin/env bash
# Where the server's heap goes, by allocation site: runs the release server under heaptrack
# (Debian's package) during one load generator scenario and prints the live bytes at the heap's
# peak, grouped by the first frame outside the standard library and the byte containers.
#
#   scripts/heap-profile.sh idle     # 4,000 idle authenticated sockets (per-connection KiB)
#   scripts/heap-profile.sh dm       # closed-loop dm by `to`, 50 pairs, window 16, 10 s
#   scripts/heap-profile.sh storm    # 1,000 registrations, then 1,000 logins, at once
#
# For idle and dm the users are registered first on a plain server (the same database), so
# registration's hashing is not in the profile. Server pinned to CPU 0 and load generator to CPU 1, as in
# scripts/bench.sh. heaptrack slows the server down; the figures are bytes, not speed. The raw
# profile stays in the printed folder (open it with heaptrack_print or heaptrack_gui).
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIO=${1:?idle or dm}
case $SCENARIO in idle | dm | storm) ;; *) echo "unknown scenario $SCENARIO (idle, dm or storm)" >&2; exit 2 ;; esac

if ! command -v heaptrack >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq heaptrack >/dev/null)
  fi
  command -v heaptrack >/dev/null 2>&1 || { echo "heaptrack is needed (apt-get install heaptrack)" >&2; exit 2; }
fi

cargo build --release --quiet -p missive -p missive-loadgen
TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
BIN=$TARGET_DIR/release/missive
LOADGEN=$TARGET_DIR/release/loadgen
PIN_SERVER=(); PIN_LOAD=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  PIN_SERVER=(taskset -c 0); PIN_LOAD=(taskset -c 1)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/missive-heap.XXXXXX")
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; true' EXIT
export MISSIVE_ADDR=127.0.0.1:0 DATABASE_URL="sqlite://$WORK/heap.db" RUST_LOG=warn \
  MISSIVE_JWT_SECRET="missive-heap-secret-$(date +%s)-0123456789abcdef" MISSIVE_SEND_RATE=0 \
  MISSIVE_ACCESS_TTL=2h MISSIVE_AUTH_RATE=0 MISSIVE_HANDSHAKE_RATE=0 MISSIVE_MAX_CONNS_PER_ADDR=0 \
  MISSIVE_EVENT_RATE=0

url_of() {
  local url=""
  for _ in $(seq 1 300); do
    url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$1" | head -1 || true)
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.1
  done
  cat "$1" >&2
  exit 1
}

"${PIN_SERVER[@]}" "$BIN" >"$WORK/plain.log" 2>&1 &
PID=$!
URL=$(url_of "$WORK/plain.log")
"${PIN_LOAD[@]}" "$LOADGEN" users --url "$URL" --count 201 --out "$WORK/users.json" --concurrency 8 >/dev/null
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""

"${PIN_SERVER[@]}" heaptrack -o "$WORK/heap" "$BIN" >"$WORK/heaptrack.log" 2>&1 &
URL=$(url_of "$WORK/heaptrack.log")
PID=$(pgrep -n -f "^$BIN")
case $SCENARIO in
  idle)
    UNITS=4000 UNIT="connection"
    "${PIN_LOAD[@]}" "$LOADGEN" idle --url "$URL" --users "$WORK/users.json" --connections 4000 --first 2000 \
      --server-pid "$PID" ;;
  dm)
    UNITS=1 UNIT="run"
    "${PIN_LOAD[@]}" "$LOADGEN" dm --url "$URL" --users "$WORK/users.json" --pairs 50 --window 16 \
      --duration 10 --warmup 2 --to --server-pid "$PID" ;;
  storm)
    UNITS=1 UNIT="run"
    "${PIN_LOAD[@]}" "$LOADGEN" storm --url "$URL" --count 1000 --server-pid "$PID" ;;
esac
kill -INT "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
PID=""
sleep 1

PROFILE=""
for f in "$WORK"/heap.zst "$WORK"/heap.gz "$WORK"/heap.*.zst "$WORK"/heap.*.gz; do
  [ -f "$f" ] && { PROFILE=$f; break; }
done
[ -n "$PROFILE" ] || { echo "heaptrack wrote no profile; its log: $WORK/heaptrack.log" >&2; exit 1; }
heaptrack_print -f "$PROFILE" 2>/dev/null | grep -E '^(peak heap|peak RSS|total runtime)'
heaptrack_print -f "$PROFILE" --print-peaks 1 --print-allocators 0 --print-temporary 0 --print-leaks 0 \
  --peak-limit 80 --sub-peak-limit 80 2>/dev/null >"$WORK/peaks.txt"
echo
echo "Live bytes at the heap's peak by allocation site (per $UNIT over $UNITS):"
python3 - "$WORK/peaks.txt" "$UNITS" <<'EOF'
import collections, re, sys
# Frames skipped to find the allocation's owner: the standard library and byte containers.
SKIP = ("rustc:", "bytes-", "hashbrown-", "/rust/deps/", "smallvec-", "serde-", "serde_json-", "serde_core-")
def location(line):
    m = re.search(r"at (/\S+)", line)
    if not m:
        return None
    path = m.group(1)
    crate = re.search(r"registry/src/[^/]+/([^/]+)/(.*)", path)
    if crate:
        return crate.group(1) + "/" + crate.group(2)
    if "/rustc/" in path:
        return "rustc:" + path.split("/library/")[-1]
    return path
def size(text):
    m = re.match(r"([\d.]+)([KMG]?)", text)
    return float(m.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]
entries, top, current = [], [], None
for line in open(sys.argv[1]):
    if "peak memory consumed over" in line:
        top, current = [], None
        continue
    m = re.match(r"\s*([\d.]+[KMG]?) consumed over (\d+) calls from", line)
    if m:
        current = {"bytes": size(m.group(1)), "calls": int(m.group(2)), "frames": list(top)}
        entries.append(current)
        continue
    where = location(line)
    if where:
        (current["frames"] if current else top).append(where)
units = float(sys.argv[2])
by_site, calls = collections.Counter(), collections.Counter()
for e in entries:
    site = next((f for f in e["frames"] if not f.startswith(SKIP)), "(standard library only)")
    by_site[site] += e["bytes"]
    calls[site] += e["calls"]
for site, b in by_site.most_common(20):
    print(f"{b / 2**20:8.2f} MiB {b / units / 1024:9.2f} KiB  {calls[site]:8d} calls  {site}")
EOF
echo
echo "profile: $PROFILE"
trap - EXIT
