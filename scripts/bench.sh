#!/usr/bin/env bash
# Benchmarks Missive with its own load generator (loadgen/), beside the Node peer
# (bench/node-peer: socket.io + better-sqlite3, persist then ack), and writes docs/benchmarks.md.
#
#   scripts/bench.sh
#
# Builds both binaries in release mode (in $CARGO_TARGET_DIR if set) and installs the Node
# peer (`npm ci`), then starts each server pinned to CPU 0 and runs the scenarios with the load
# generator pinned to CPU 1:
# - SQLite with the defaults (synchronous=FULL, group commit on), a fresh file in a temporary
#   directory: storm (1,000 registrations then 1,000 logins at once; memory after), dm closed
#   loop addressed by `to` and by `room_id` (memory sampled during), dm open loop at 5,000 and
#   10,000 msgs/s, connect, idle, fanout and catchup;
# - the same database with synchronous=NORMAL (dm closed loop, both addressings) and with group
#   commit off;
# - the Node peer with synchronous=FULL (dm closed loop, open loop at 10,000 msgs/s) and
#   NORMAL (dm closed loop), each on a fresh file, same load generator, same pairs and window;
# - Postgres (a fresh database on $MISSIVE_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432,
#   dropped afterwards): the same scenarios as SQLite but the storm.
# Every server it starts is stopped on exit, also on failure. Traffic stays on 127.0.0.0/8.
# Takes about 14 minutes on a 2-core machine. Set MISSIVE_BENCH_QUICK=1 for a smaller smoke run
# (its figures say nothing about the targets), MISSIVE_BENCH_OUT=FILE to write elsewhere.
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
STORM=1000          # registrations, then logins, at once
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
  USERS=201; STORM=200; CONNECT=1000; IDLE=2000; IDLE_FIRST=1000; DM_SECS=3; FANOUT_MSGS=10; CATCHUP_BIG=20000; CATCHUP_BIG_PG=10000
fi

say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
  || die "node and npm are needed for the Node peer (apt-get install nodejs npm)"

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
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER_BIN=$TARGET_DIR/release/missive
LOADGEN=$TARGET_DIR/release/loadgen

say "Installing the Node peer (npm ci)"
PEER_DIR=$ROOT/bench/node-peer
(cd "$PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci of bench/node-peer failed"
PEER_VERSIONS=$(cd "$PEER_DIR" && node -e "console.log('Node ' + process.version + ', socket.io ' + require('socket.io/package.json').version + ', better-sqlite3 ' + require('better-sqlite3/package.json').version)")

URL=""
# wait_url LOG WHO: waits for "WHO listening on http://…" in LOG, sets URL.
wait_url() {
  local log=$1 who=$2
  URL=""
  for _ in $(seq 1 300); do
    URL=$(sed -n "s/^$who listening on \(http:[^ ]*\).*/\1/p" "$log" | head -1)
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; SERVER_PID=""; die "$who exited at start"; }
    sleep 0.1
  done
  [ -n "$URL" ] || die "$who did not report its address within 30 s"
}

# start_server DATABASE_URL [VAR=value ...]: starts the pinned server, sets SERVER_PID and URL.
start_server() {
  local db=$1; shift
  local log=$WORK/server-$(date +%s%N).log
  env MISSIVE_ADDR=127.0.0.1:0 DATABASE_URL="$db" MISSIVE_JWT_SECRET="$JWT_SECRET" \
      MISSIVE_SEND_RATE=0 MISSIVE_ACCESS_TTL=2h MISSIVE_STATIC_DIR="$ROOT/static" \
      MISSIVE_AUTH_RATE=0 MISSIVE_HANDSHAKE_RATE=0 MISSIVE_MAX_CONNS_PER_ADDR=0 MISSIVE_EVENT_RATE=0 \
      RUST_LOG=warn "$@" "${PIN_SERVER[@]}" "$SERVER_BIN" >"$log" 2>&1 </dev/null &
  SERVER_PID=$!
  wait_url "$log" missive
  say "Server pid $SERVER_PID at $URL ($db $*)"
}

# start_peer SYNCHRONOUS: starts the pinned Node peer on a fresh SQLite file.
start_peer() {
  local sync=$1
  local log=$WORK/peer-$(date +%s%N).log
  env PEER_ADDR=127.0.0.1 PEER_PORT=0 PEER_DB="$WORK/peer-$sync.db" PEER_SQLITE_SYNCHRONOUS="$sync" \
      NODE_ENV=production "${PIN_SERVER[@]}" node "$PEER_DIR/server.js" >"$log" 2>&1 </dev/null &
  SERVER_PID=$!
  wait_url "$log" node-peer
  say "Node peer pid $SERVER_PID at $URL (synchronous=$sync)"
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

# lg LABEL SETUP SCENARIO ARGS...: one load generator run; its JSON line goes to RESULTS and
# its human summary to the terminal and LOG. SETUP is the key `loadgen report` finds it by.
lg() {
  local label=$1 setup=$2 scenario=$3; shift 3
  say "$label: $scenario $*"
  local err=$WORK/lg.err
  if "${PIN_LOAD[@]}" "$LOADGEN" "$scenario" --url "$URL" --json --label "$label" --setup "$setup" "$@" \
      >>"$RESULTS" 2>"$err"; then
    cat "$err" >&2
    { printf '### %s: loadgen %s %s\n\n```\n' "$label" "$scenario" "$*"; cat "$err"; printf '```\n\n'; } >>"$LOG"
  else
    cat "$err" >&2
    die "loadgen $scenario failed"
  fi
  sleep 3 # presence grace and disconnects settle before the next run
}

DM_CLOSED=(--pairs "$DM_PAIRS" --window "$DM_WINDOW" --duration "$DM_SECS" --warmup 2)
DM_OPEN=(--pairs "$DM_PAIRS" --duration "$DM_SECS" --warmup 2)

# all_scenarios LABEL SETUP BIG_CATCHUP: every scenario against the running server, with a
# fresh user pool.
all_scenarios() {
  local label=$1 setup=$2 big=$3 pool=$WORK/users-$RANDOM.json
  POOL=$pool
  say "$label: registering $USERS users"
  "${PIN_LOAD[@]}" "$LOADGEN" users --url "$URL" --count "$USERS" --out "$pool" --concurrency 8
  # Order matters: the dm pairs' direct rooms are the only rooms shared by the connect and
  # idle users (presence fan-out stays small), and fanout's big group comes after them.
  lg "$label" "$setup" dm --users "$pool" "${DM_CLOSED[@]}" --to --server-pid "$SERVER_PID"
  lg "$label" "$setup" dm --users "$pool" "${DM_CLOSED[@]}" --server-pid "$SERVER_PID"
  lg "$label" "$setup" dm --users "$pool" "${DM_OPEN[@]}" --rate 5000 --to --server-pid "$SERVER_PID"
  lg "$label" "$setup" dm --users "$pool" "${DM_OPEN[@]}" --rate 10000 --to --server-pid "$SERVER_PID"
  lg "$label" "$setup" connect --users "$pool" --connections "$CONNECT" --concurrency 64
  lg "$label" "$setup" idle --users "$pool" --connections "$IDLE" --first "$IDLE_FIRST" --server-pid "$SERVER_PID"
  lg "$label" "$setup" fanout --users "$pool" --members 100 --messages "$FANOUT_MSGS"
  lg "$label" "$setup" fanout --users "$pool" --members $((USERS - 1)) --messages "$FANOUT_MSGS"
  lg "$label" "$setup" catchup --messages 10000
  lg "$label" "$setup" catchup --messages "$big"
}

START=$(date +%s)

# --- SQLite ---------------------------------------------------------------------------------
# The defaults: synchronous=FULL, group commit on. The storm comes first, on the fresh server.
SQLITE_DB="sqlite://$WORK/bench.db"
start_server "$SQLITE_DB"
POOL=""
lg "SQLite, synchronous=FULL (default)" sqlite-full storm --count "$STORM" --server-pid "$SERVER_PID"
all_scenarios "SQLite, synchronous=FULL (default)" sqlite-full "$CATCHUP_BIG"
stop_server

# Same database, same users: synchronous=NORMAL, then group commit off.
start_server "$SQLITE_DB" MISSIVE_SQLITE_SYNCHRONOUS=normal
lg "SQLite, synchronous=NORMAL" sqlite-normal dm --users "$POOL" "${DM_CLOSED[@]}" --to --server-pid "$SERVER_PID"
lg "SQLite, synchronous=NORMAL" sqlite-normal dm --users "$POOL" "${DM_CLOSED[@]}" --server-pid "$SERVER_PID"
stop_server
start_server "$SQLITE_DB" MISSIVE_GROUP_COMMIT=false
lg "SQLite, FULL, group commit off" sqlite-full-nogc dm --users "$POOL" "${DM_CLOSED[@]}"
stop_server

# --- The Node peer --------------------------------------------------------------------------
start_peer full
lg "Node peer, synchronous=FULL" peer-full dm "${DM_CLOSED[@]}" --peer --server-pid "$SERVER_PID"
lg "Node peer, synchronous=FULL" peer-full dm "${DM_OPEN[@]}" --rate 10000 --peer --server-pid "$SERVER_PID"
stop_server
start_peer normal
lg "Node peer, synchronous=NORMAL" peer-normal dm "${DM_CLOSED[@]}" --peer --server-pid "$SERVER_PID"
stop_server

# --- Postgres -------------------------------------------------------------------------------
PG_NOTE=""
if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -d "$PG_URL/postgres" 2>/dev/null; then
  PG_DB="missive_bench_$(date +%s)_$$"
  PG_SETTINGS=""
  if command -v psql >/dev/null 2>&1; then
    PG_SETTINGS=$(psql "$PG_URL/postgres" -Atc "select 'Postgres ' || current_setting('server_version') || ', synchronous_commit=' || current_setting('synchronous_commit') || ', fsync=' || current_setting('fsync')" 2>/dev/null || true)
  fi
  start_server "$PG_URL/$PG_DB"
  all_scenarios "Postgres" postgres "$CATCHUP_BIG_PG"
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
# The hand-written notes at the end of docs/benchmarks.md (from the marker on) are kept.
MARKER='<!-- Hand-written notes: scripts/bench.sh keeps everything from this line on. -->'
NOTES=$WORK/notes.md
: >"$NOTES"
if [ -f "$ROOT/docs/benchmarks.md" ]; then
  awk -v m="$MARKER" 'index($0, m) == 1 {on = 1} on' "$ROOT/docs/benchmarks.md" >"$NOTES"
fi
{
  echo "# Benchmarks"
  echo
  echo "Measured by \`scripts/bench.sh\` with Missive's own load generator (\`loadgen/\`, Socket.IO v5"
  echo "over WebSocket, HDR histograms), against Missive and, in the same run, the Node peer"
  echo "(\`bench/node-peer/\`). Regenerate with:"
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
  [ "$QUICK" = 1 ] && echo "| **Quick smoke run** | \`MISSIVE_BENCH_QUICK=1\`: smaller sizes and 3 s runs; the figures prove the scenarios work and say nothing about the targets |"
  echo "| SQLite | WAL; synchronous=FULL (the default) unless the setup says NORMAL; group commit on unless it says off |"
  echo "| Node peer | $PEER_VERSIONS; WAL; synchronous as its setup says; \`NODE_ENV=production\` |"
  echo "| Postgres | ${PG_SETTINGS:-not run} |"
  echo "| Server env | \`MISSIVE_SEND_RATE=0\` (no per-user send limit), \`MISSIVE_ACCESS_TTL=2h\`, \`RUST_LOG=warn\`; per-address and per-socket limits off (\`MISSIVE_AUTH_RATE=0 MISSIVE_HANDSHAKE_RATE=0 MISSIVE_MAX_CONNS_PER_ADDR=0 MISSIVE_EVENT_RATE=0\`: all load comes from one address) |"
  echo "| Run time | $((ELAPSED / 60)) min $((ELAPSED % 60)) s |"
  echo
  [ -n "$PG_NOTE" ] && { echo "**$PG_NOTE**"; echo; }
  echo "What each scenario does: \`dm\` — $DM_PAIRS pairs of users exchanging direct messages both"
  echo "ways, closed loop ($DM_WINDOW unacked sends per sender) or open loop at a fixed total rate"
  echo "(latency from the scheduled send time); a message counts only when acked (committed) and"
  echo "delivered; addressed by the other user's id (\`to\`) or by the direct room's \`room_id\`;"
  echo "the server's RSS is sampled every 100 ms during the run. Missive also delivers each message"
  echo "to the sender's own devices; the Node peer, as built by hand, only to the recipient."
  echo "\`storm\` — $STORM registrations at once, then $STORM logins of the same users at once"
  echo "(a 503 from the full hashing queue is retried after 100 ms, the wait doubling with jitter up to 2 s); server RSS 2 s after each wave."
  echo "\`fanout\` — one sender into a group of M online members, one message at a time;"
  echo "latency to the last member. \`catchup\` — K messages queued for an offline user, time from"
  echo "its connect to the last \`sync\` message. \`idle\` — authenticated idle sockets; server RSS"
  echo "per connection as the slope between two counts. \`connect\` — authenticated handshakes per"
  echo "second (64 at a time). Targets are issue 12's (and issue 6's)."
  echo
  "$LOADGEN" report "$RESULTS"
  echo
  echo "## Load generator output"
  echo
  echo "<details><summary>Every run's summary</summary>"
  echo
  cat "$LOG"
  echo "</details>"
  if [ -s "$NOTES" ]; then echo; cat "$NOTES"; fi
} >"$OUT"
say "Done in ${ELAPSED}s: $OUT"
