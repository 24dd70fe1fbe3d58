#!/usr/bin/env bash
# Measures the server's memory (RSS) while it receives one large upload: a release build on a
# fresh SQLite database, the upload limit raised to fit, the file streamed by curl. Prints the
# RSS before, the peak during the upload, and after. Usage:
#
#   scripts/upload-rss.sh [SIZE_MIB]        # default 100
#
# MISSIVE_BIN picks the binary (default: target/release/missive, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-100}
BIN=${MISSIVE_BIN:-${CARGO_TARGET_DIR:-target}/release/missive}
[ -x "$BIN" ] || cargo build --release --quiet
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/file.bin"
MISSIVE_ADDR=127.0.0.1:0 DATABASE_URL="sqlite://$WORK/m.db" MISSIVE_STATIC_DIR=static \
  MISSIVE_MAX_UPLOAD=$(((SIZE_MIB + 1) * 1024 * 1024)) MISSIVE_MEDIA_QUOTA=0 MISSIVE_SEND_RATE=0 \
  MISSIVE_UPLOAD_TIMEOUT=10m RUST_LOG=warn "$BIN" >"$WORK/out" 2>"$WORK/err" &
PID=$!
for _ in $(seq 1 100); do grep -q '127.0.0.1:' "$WORK/out" 2>/dev/null && break; sleep 0.1; done
URL=http://$(grep -o '127.0.0.1:[0-9]*' "$WORK/out" | head -1)
TOKEN=$(curl -sS -X POST "$URL/api/auth/register" -H 'content-type: application/json' \
  -d '{"username":"rss_probe","password":"a long password"}' |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).access_token))')

rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
BEFORE=$(rss)
PEAK=$BEFORE
START=$(date +%s.%N)
curl -sS -o "$WORK/answer" -w '%{http_code}' -X POST -T "$WORK/file.bin" \
  -H "authorization: Bearer $TOKEN" -H 'content-type: application/octet-stream' \
  "$URL/api/attachments?name=file.bin" >"$WORK/status" &
CURL=$!
while kill -0 "$CURL" 2>/dev/null; do
  now=$(rss)
  [ "$now" -gt "$PEAK" ] && PEAK=$now
  sleep 0.02
done
wait "$CURL"
END=$(date +%s.%N)
AFTER=$(rss)
echo "upload of $SIZE_MIB MiB: HTTP $(cat "$WORK/status") in $(echo "$END - $START" | bc) s"
echo "server RSS: before $((BEFORE / 1024)) MiB, peak during the upload $((PEAK / 1024)) MiB, after $((AFTER / 1024)) MiB"
