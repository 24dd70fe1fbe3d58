#!/usr/bin/env bash
# Compares the closed-loop durable DM throughput of two server binaries in one run:
#
#   scripts/bench-compare.sh BASELINE_BIN CANDIDATE_BIN [ROUNDS]
#
# For SQLite and Postgres, each round starts each binary on a fresh database (server pinned to
# CPU 0, load generator to CPU 1, as scripts/bench.sh does), registers a user pool, and runs
# `loadgen dm` closed loop (50 pairs, window 16, 10 s after 2 s of warm-up). The binaries
# alternate within each round so that drift in the machine's load hits both alike. Prints each
# run and the median msgs/s per binary and database, and the candidate/baseline ratio.
# Traffic stays on 127.0.0.1.
#
# Both binaries run SQLite at the same `synchronous` level, MISSIVE_SQLITE_SYNCHRONOUS (default
# `normal`, the first landing's default; today's default is `full`), so the comparison is of the
# code, not of durability. MISSIVE_COMPARE_BACKENDS (default `sqlite postgres`) picks the
# databases.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUST_BACKTRACE=0
ROOT=$(pwd)
BASE=${1:?baseline binary}
CAND=${2:?candidate binary}
ROUNDS=${3:-3}
PG_URL=${MISSIVE_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
JWT_SECRET="missive-bench-secret-$(date +%s)-0123456789abcdef"
SYNCHRONOUS=${MISSIVE_SQLITE_SYNCHRONOUS:-normal}

say() { printf '==> %s\n' "$*" >&2; }

# MISSIVE_LOADGEN: a load generator already built (else it is built here, in release mode).
LOADGEN=${MISSIVE_LOADGEN:-}
if [ -z "$LOADGEN" ]; then
  cargo build --release --quiet -p missive-loadgen
  LOADGEN=$ROOT/target/release/loadgen
fi

PIN_SERVER=(); PIN_LOAD=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  PIN_SERVER=(taskset -c 0); PIN_LOAD=(taskset -c 1)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/missive-compare.XXXXXX")
PID=""
DBS=()
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  for db in "${DBS[@]}"; do
    psql "$PG_URL/postgres" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# run BIN DATABASE_URL: one closed-loop dm measurement; prints msgs/s. All the load comes from
# one address, so the per-address limits are off (as in scripts/bench.sh).
run() {
  local bin=$1 db=$2 log=$WORK/server.log pool=$WORK/users-$RANDOM.json
  env MISSIVE_ADDR=127.0.0.1:0 DATABASE_URL="$db" MISSIVE_JWT_SECRET="$JWT_SECRET" \
    MISSIVE_SEND_RATE=0 MISSIVE_ACCESS_TTL=2h RUST_LOG=warn MISSIVE_SQLITE_SYNCHRONOUS="$SYNCHRONOUS" \
    MISSIVE_AUTH_RATE=0 MISSIVE_HANDSHAKE_RATE=0 MISSIVE_MAX_CONNS_PER_ADDR=0 MISSIVE_EVENT_RATE=0 \
    "${PIN_SERVER[@]}" "$bin" >"$log" 2>&1 </dev/null &
  PID=$!
  local url=""
  for _ in $(seq 1 100); do
    url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$log" | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$log" >&2; exit 1; }
  "${PIN_LOAD[@]}" "$LOADGEN" users --url "$url" --count 101 --out "$pool" --concurrency 8 >/dev/null
  "${PIN_LOAD[@]}" "$LOADGEN" dm --url "$url" --users "$pool" --pairs 50 --window 16 --duration 10 --warmup 2 \
    | grep -oE '[0-9][0-9,.]* msgs/s' | head -1 | tr -d ', msgs/'
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

say "SQLite synchronous=$SYNCHRONOUS for both binaries"
for backend in ${MISSIVE_COMPARE_BACKENDS:-sqlite postgres}; do
  : >"$WORK/base.txt"; : >"$WORK/cand.txt"
  for round in $(seq 1 "$ROUNDS"); do
    for who in base cand; do
      bin=$BASE; [ "$who" = cand ] && bin=$CAND
      if [ "$backend" = sqlite ]; then
        db="sqlite://$WORK/$who-$round.db"
      else
        name="missive_compare_${who}_${round}_$$"; DBS+=("$name"); db="$PG_URL/$name"
      fi
      v=$(run "$bin" "$db")
      say "$backend round $round $who: $v msgs/s"
      echo "$v" >>"$WORK/$who.txt"
    done
  done
  b=$(median <"$WORK/base.txt"); c=$(median <"$WORK/cand.txt")
  printf '%s: baseline median %s msgs/s, candidate median %s msgs/s, ratio %s\n' \
    "$backend" "$b" "$c" "$(awk -v b="$b" -v c="$c" 'BEGIN { printf "%.3f", c / b }')"
done
