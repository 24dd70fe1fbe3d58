#!/usr/bin/env bash
# Soak test: one hour (or $1 seconds) of mixed load (tests/js/soak/soak.js: chat, reconnect
# churn, reads, logins, and a trickle of the audit's abuse) against a server at its default
# limits, sampling the server's RSS, open fds and threads every 10 s. The run passes when, after
# a warm-up of a tenth of the run, the last quarter's peak RSS is within 20 MiB of the
# warm-up sample and fds and threads are within 20% (+10) of it: flat, not growing.
#
#   scripts/soak.sh            # 3600 s, SQLite, debug build
#   scripts/soak.sh 180        # a 3-minute smoke run
#   DATABASE_URL=postgres://… MISSIVE_JWT_SECRET=… scripts/soak.sh
#   MISSIVE_BIN=target/release/missive scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${1:-3600}
BIN=${MISSIVE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/missive}
WORK=$(mktemp -d)
OUT=${SOAK_OUT:-$WORK/samples.csv}
DB=${DATABASE_URL:-sqlite://$WORK/soak.db}
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT

env MISSIVE_ADDR=127.0.0.1:0 DATABASE_URL="$DB" MISSIVE_STATIC_DIR="$ROOT/static" \
    MISSIVE_JWT_SECRET="${MISSIVE_JWT_SECRET:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}" \
    RUST_LOG=warn "$BIN" >"$WORK/server.log" 2>&1 &
PID=$!
URL=""
for _ in $(seq 1 100); do
  URL=$(grep -so 'http://[0-9.]*:[0-9]*' "$WORK/server.log" | head -1 || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { cat "$WORK/server.log"; exit 1; }
echo "soak: $BIN on $DB at $URL for ${DURATION}s; samples in $OUT"

(cd tests/js && SOAK_URL=$URL SOAK_SECONDS=$DURATION node soak/soak.js >"$WORK/load.json" 2>"$WORK/load.err") &
LOAD=$!

echo "t_s,rss_kib,fds,threads,sockets" >"$OUT"
start=$(date +%s)
while kill -0 $LOAD 2>/dev/null; do
  t=$(( $(date +%s) - start ))
  rss=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
  thr=$(awk '/Threads/ {print $2}' /proc/$PID/status)
  fds=$(ls /proc/$PID/fd | wc -l)
  socks=$(curl -s "$URL/metrics" | awk '/^missive_sockets / {print $2}')
  echo "$t,$rss,$fds,$thr,${socks:-0}" >>"$OUT"
  sleep 10
done
wait $LOAD || { echo "the load generator failed:"; cat "$WORK/load.err"; exit 1; }
echo "load: $(cat "$WORK/load.json")"

# Verdict: warm-up sample vs the last quarter's peaks.
awk -F, -v dur="$DURATION" '
  NR == 1 { next }
  { t[NR] = $1; rss[NR] = $2; fds[NR] = $3; thr[NR] = $4; n = NR }
  END {
    warm = 0
    for (i = 2; i <= n; i++) if (t[i] >= dur / 10) { warm = i; break }
    if (warm == 0) warm = 2
    for (i = 2; i <= n; i++) if (t[i] >= dur * 3 / 4) { if (rss[i] > mr) mr = rss[i]; if (fds[i] > mf) mf = fds[i]; if (thr[i] > mt) mt = thr[i] }
    for (i = 2; i <= n; i++) if (rss[i] > peak) peak = rss[i]
    printf "warm-up (t=%ds): RSS %.1f MiB, %d fds, %d threads\n", t[warm], rss[warm] / 1024, fds[warm], thr[warm]
    printf "last quarter peak: RSS %.1f MiB, %d fds, %d threads; whole-run peak RSS %.1f MiB\n", mr / 1024, mf, mt, peak / 1024
    ok = (mr - rss[warm] <= 20 * 1024) && (mf <= fds[warm] * 1.2 + 10) && (mt <= thr[warm] * 1.2 + 10)
    print (ok ? "FLAT: pass" : "GROWING: fail")
    exit ok ? 0 : 1
  }' "$OUT"
