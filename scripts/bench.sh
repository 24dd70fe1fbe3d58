#!/usr/bin/env bash
# Benchmarks Missive with its own load generator (loadgen/) and writes docs/benchmarks.md.
#
#   scripts/bench.sh
#
# Builds both binaries in release mode, then for SQLite (a fresh file in a temporary directory)
# and Postgres (a fresh database on $MISSIVE_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432,
# dropped afterwards) starts the server pinned to CPU 0 and runs every scenario with the load
# generator pinned to CPU 1: connect, idle, dm (closed loop and open loop), fanout and catchup.
# On SQLite the closed-loop dm run is repeated with group commit off and with synchronous=FULL.
# Every server it starts is stopped on exit, also on failure. Traffic stays on 127.0.0.0/8.
# Takes about 11 minutes on a 2-core machine. Set MISSIVE_BENCH_QUICK=1 for a smaller smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export RUST_BACKTRACE=0

PG_URL=${MISSIVE_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
OUT=${MISSIVE_BENCH_OUT:-$ROOT/docs/benchmarks.md}
QUICK=${MISSIVE_BENCH_QUICK:-0}
JWT_SECRET="missive-bench-secret-$(date +%s)-0123456789abcdef"

# Sizes for a 2-core machine (server on one core, load generator on the other).
USERS=1001          # 1,000 fanout members + sender; 19,000 idle sockets at <= 20 per user
CONNECT=5000
IDLE=19000
IDLE_FIRST=9500
DM_PAIRS=50
DM_WINDOW=16
DM_SECS=10
FANOUT_MSGS=50
CATCHUP_BIG=100000  # on SQLite; Postgres queues ~1,200 msgs/s from one sender, so it gets less
CATCHUP_BIG_PG=20000
if [ "$QUICK" = 1 ]; then
  USERS=201; CONNECT=1000; IDLE=2000; IDLE_FIRST=1000; DM_SECS=3; FANOUT_MSGS=10; CATCHUP_BIG=20000; CATCHUP_BIG_PG=10000
fi

say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/missive-bench.XXXXXX")
SERVER_PID=""
PG_DB=""
cleanup() {
  local rc=$?
  stop_server
  if [ -n "$PG_DB" ] && command -v psql >/dev/null 2>&1; then
    psql "$PG_URL/postgres" -qc "drop database if exists $PG_DB with (force)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Pinning: server on CPU 0, load generator on CPU 1, when taskset and two CPUs exist.
PIN_SERVER=(); PIN_LOAD=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  PIN_SERVER=(taskset -c 0); PIN_LOAD=(taskset -c 1)
else
  say "taskset or a second CPU is missing: server and load generator are not pinned"
fi

# Idle connections need file descriptors in both processes.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

say "Building release binaries"
cargo build --release --quiet -p missive -p missive-loadgen || die "cargo build failed"
SERVER_BIN=$ROOT/target/release/missive
LOADGEN=$ROOT/target/release/loadgen

URL=""
# start_server DATABASE_URL [VAR=value ...]: starts the pinned server, sets SERVER_PID and URL.
start_server() {
  local db=$1; shift
  local log=$WORK/server-$(date +%s%N).log
  env MISSIVE_ADDR=127.0.0.1:0 DATABASE_URL="$db" MISSIVE_JWT_SECRET="$JWT_SECRET" \
      MISSIVE_SEND_RATE=0 MISSIVE_ACCESS_TTL=2h MISSIVE_STATIC_DIR="$ROOT/static" \
      MISSIVE_AUTH_RATE=0 MISSIVE_HANDSHAKE_RATE=0 MISSIVE_MAX_CONNS_PER_ADDR=0 MISSIVE_EVENT_RATE=0 \
      RUST_LOG=warn "$@" "${PIN_SERVER[@]}" "$SERVER_BIN" >"$log" 2>&1 </dev/null &
  SERVER_PID=$!
  URL=""
  for _ in $(seq 1 300); do
    URL=$(sed -n 's/^missive listening on \(http:[^ ]*\).*/\1/p' "$log" | head -1)
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; SERVER_PID=""; die "the server exited at start"; }
    sleep 0.1
  done
  [ -n "$URL" ] || die "the server did not report its address within 30 s"
  say "Server pid $SERVER_PID at $URL ($db $*)"
}

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

RESULTS=$WORK/results.jsonl
LOG=$WORK/summaries.txt
: >"$RESULTS"; : >"$LOG"

# lg LABEL SCENARIO ARGS...: one load generator run; its JSON line goes to RESULTS and its
# human summary to the terminal and LOG.
lg() {
  local label=$1 scenario=$2; shift 2
  say "$label: $scenario $*"
  local err=$WORK/lg.err
  if "${PIN_LOAD[@]}" "$LOADGEN" "$scenario" --url "$URL" --json --label "$label" "$@" \
      >>"$RESULTS" 2>"$err"; then
    cat "$err" >&2
    { printf '### %s: loadgen %s %s\n\n```\n' "$label" "$scenario" "$*"; cat "$err"; printf '```\n\n'; } >>"$LOG"
  else
    cat "$err" >&2
    die "loadgen $scenario failed"
  fi
  sleep 3 # presence grace and disconnects settle before the next run
}

# all_scenarios LABEL BIG_CATCHUP: every scenario against the running server, with a fresh user pool.
all_scenarios() {
  local label=$1 big=$2 pool=$WORK/users-$RANDOM.json
  POOL=$pool
  say "$label: registering $USERS users"
  "${PIN_LOAD[@]}" "$LOADGEN" users --url "$URL" --count "$USERS" --out "$pool" --concurrency 8
  # Order matters: idle and connect users must not share rooms yet (presence fan-out), and
  # fanout's big group comes after them.
  lg "$label" connect --users "$pool" --connections "$CONNECT" --concurrency 64
  lg "$label" idle --users "$pool" --connections "$IDLE" --first "$IDLE_FIRST" --server-pid "$SERVER_PID"
  lg "$label" dm --users "$pool" --pairs "$DM_PAIRS" --window "$DM_WINDOW" --duration "$DM_SECS" --warmup 2
  lg "$label" dm --users "$pool" --pairs "$DM_PAIRS" --rate 5000 --duration "$DM_SECS" --warmup 2
  lg "$label" dm --users "$pool" --pairs "$DM_PAIRS" --rate 10000 --duration "$DM_SECS" --warmup 2
  lg "$label" fanout --users "$pool" --members 100 --messages "$FANOUT_MSGS"
  lg "$label" fanout --users "$pool" --members $((USERS - 1)) --messages "$FANOUT_MSGS"
  lg "$label" catchup --messages 10000
  lg "$label" catchup --messages "$big"
}

START=$(date +%s)

# --- SQLite ---------------------------------------------------------------------------------
SQLITE_DB="sqlite://$WORK/bench.db"
start_server "$SQLITE_DB" MISSIVE_SQLITE_SYNCHRONOUS=normal MISSIVE_GROUP_COMMIT=true
POOL=""
all_scenarios "SQLite, synchronous=NORMAL" "$CATCHUP_BIG"
stop_server

# Same database, same users: group commit off, then synchronous=FULL.
start_server "$SQLITE_DB" MISSIVE_SQLITE_SYNCHRONOUS=normal MISSIVE_GROUP_COMMIT=false
lg "SQLite, NORMAL, group commit off" dm --users "$POOL" --pairs "$DM_PAIRS" --window "$DM_WINDOW" --duration "$DM_SECS" --warmup 2
stop_server
start_server "$SQLITE_DB" MISSIVE_SQLITE_SYNCHRONOUS=full MISSIVE_GROUP_COMMIT=true
lg "SQLite, synchronous=FULL" dm --users "$POOL" --pairs "$DM_PAIRS" --window "$DM_WINDOW" --duration "$DM_SECS" --warmup 2
stop_server

# --- Postgres -------------------------------------------------------------------------------
PG_NOTE=""
if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -d "$PG_URL/postgres" 2>/dev/null; then
  PG_DB="missive_bench_$(date +%s)_$$"
  PG_SETTINGS=""
  if command -v psql >/dev/null 2>&1; then
    PG_SETTINGS=$(psql "$PG_URL/postgres" -Atc "select 'Postgres ' || current_setting('server_version') || ', synchronous_commit=' || current_setting('synchronous_commit') || ', fsync=' || current_setting('fsync')" 2>/dev/null || true)
  fi
  start_server "$PG_URL/$PG_DB" MISSIVE_GROUP_COMMIT=true
  all_scenarios "Postgres" "$CATCHUP_BIG_PG"
  stop_server
else
  PG_NOTE="Postgres was not reachable at $PG_URL: its runs are missing from this report."
  say "$PG_NOTE"
fi

ELAPSED=$(( $(date +%s) - START ))

# --- Report ---------------------------------------------------------------------------------
say "Writing $OUT"
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
MEM=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then COMMIT="$COMMIT (with uncommitted changes)"; fi
{
  echo "# Benchmarks"
  echo
  echo "Measured by \`scripts/bench.sh\` with Missive's own load generator (\`loadgen/\`, Socket.IO v5"
  echo "over WebSocket, HDR histograms). Regenerate with:"
  echo
  echo '```'
  echo "scripts/bench.sh"
  echo '```'
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| Date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
  echo "| Commit | $COMMIT |"
  echo "| Machine | $(nproc) CPUs, $CPU, $MEM RAM, $(uname -sr) |"
  echo "| Pinning | server \`${PIN_SERVER[*]:-none}\`, load generator \`${PIN_LOAD[*]:-none}\` |"
  echo "| SQLite | WAL; synchronous=NORMAL unless the setup says FULL; group commit on unless it says off |"
  echo "| Postgres | ${PG_SETTINGS:-not run} |"
  echo "| Server env | \`MISSIVE_SEND_RATE=0\` (no per-user send limit), \`MISSIVE_ACCESS_TTL=2h\`, \`RUST_LOG=warn\`; per-address and per-socket limits off (\`MISSIVE_AUTH_RATE=0 MISSIVE_HANDSHAKE_RATE=0 MISSIVE_MAX_CONNS_PER_ADDR=0 MISSIVE_EVENT_RATE=0\`: all load comes from one address) |"
  echo "| Run time | $((ELAPSED / 60)) min $((ELAPSED % 60)) s |"
  echo
  [ -n "$PG_NOTE" ] && { echo "**$PG_NOTE**"; echo; }
  echo "What each scenario does: \`dm\` — $DM_PAIRS pairs of users exchanging direct messages both"
  echo "ways, closed loop ($DM_WINDOW unacked sends per sender) or open loop at a fixed total rate"
  echo "(latency from the scheduled send time); a message counts only when acked (committed) and"
  echo "delivered. \`fanout\` — one sender into a group of M online members, one message at a time;"
  echo "latency to the last member. \`catchup\` — K messages queued for an offline user, time from"
  echo "its connect to the last \`sync\` message. \`idle\` — authenticated idle sockets; server RSS"
  echo "per connection as the slope between two counts. \`connect\` — authenticated handshakes per"
  echo "second (64 at a time). Targets are issue 6's."
  echo
  echo "## Results"
  echo
  "$LOADGEN" report "$RESULTS"
  echo
  echo "## Load generator output"
  echo
  echo "<details><summary>Every run's summary</summary>"
  echo
  cat "$LOG"
  echo "</details>"
} >"$OUT"
say "Done in ${ELAPSED}s: $OUT"
