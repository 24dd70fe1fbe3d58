#!/usr/bin/env bash
# Measures a Missive cluster: closed-loop direct messages with 1, 2 and 3 nodes on one fresh
# Postgres database, for each bus, and what each message costs the database and the bus.
#
#   scripts/bench-cluster.sh            # prints a Markdown table (and writes it to $MISSIVE_BENCH_OUT if set)
#
# For every bus (`postgres`; `redis` when the binary accepts MISSIVE_BUS=redis, which it says in
# its --help) and every node count it starts the nodes (release build) on a fresh database, runs
# the load generator's closed-loop `dm` scenario with the two users of every pair on different
# nodes (`loadgen dm --also-url`, so with 2+ nodes every message crosses the bus), and reads:
#   - msgs/s: messages acked (committed) and delivered, from the load generator;
#   - Postgres work per message: `pg_stat_database` deltas of the run's database (transactions
#     committed, rows inserted+updated+deleted) minus the idle background measured just before
#     (each node's once-a-second health ping and stats row), divided by the messages the nodes
#     stored (`missive_messages_stored_total` summed over the nodes' /metrics). Statements per
#     message come from `pg_stat_statements` instead when Postgres preloads it;
#   - bus bytes per message: `missive_bus_bytes_sent_total` and `..._received_total` summed
#     over the nodes, when the binary exports them;
#   - CPU per message: CPU time of all Postgres processes and of the nodes over the load
#     generator's run (/proc), divided by the messages stored: what sizing multiplies.
# The machine is shared: nodes, Postgres and the load generator are not pinned (two cores cannot
# give three nodes one each), so the figures show what coordination costs, not scale-out.
#
# Settings (environment): MISSIVE_BENCH_PG_URL (postgres://postgres@127.0.0.1:5432),
# MISSIVE_BENCH_NODES ("1 2 3"), MISSIVE_BENCH_BUSES ("postgres redis"), MISSIVE_BENCH_SECS (10),
# MISSIVE_BENCH_PAIRS (50), MISSIVE_BENCH_WINDOW (16), MISSIVE_REDIS_URL (redis://127.0.0.1:6379),
# MISSIVE_BENCH_QUICK=1 (3 s runs, 20 pairs: a smoke test). Takes about 3 minutes after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export RUST_BACKTRACE=0

PG_URL=${MISSIVE_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
NODE_COUNTS=${MISSIVE_BENCH_NODES:-1 2 3}
BUSES=${MISSIVE_BENCH_BUSES:-postgres redis}
SECS=${MISSIVE_BENCH_SECS:-10}
PAIRS=${MISSIVE_BENCH_PAIRS:-50}
WINDOW=${MISSIVE_BENCH_WINDOW:-16}
WARMUP=2
REDIS_URL=${MISSIVE_REDIS_URL:-redis://127.0.0.1:6379}
if [ "${MISSIVE_BENCH_QUICK:-0}" = 1 ]; then SECS=3; PAIRS=20; WARMUP=1; fi
JWT_SECRET="missive-bench-cluster-$(date +%s)-0123456789abcdef"

say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

command -v psql >/dev/null || die "psql is needed (apt-get install postgresql-client)"
pg_isready -q -d "$PG_URL/postgres" 2>/dev/null || psql "$PG_URL/postgres" -qc 'select 1' >/dev/null 2>&1 \
  || die "Postgres is not reachable at $PG_URL (start it: pg_ctlcluster --skip-systemctl-redirect <version> main start)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/missive-bench-cluster.XXXXXX")
PIDS=()
URLS=()
DB=""
cleanup() {
  local rc=$?
  stop_nodes
  [ -n "$DB" ] && psql "$PG_URL/postgres" -qc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

say "Building release binaries"
cargo build --release --quiet -p missive -p missive-loadgen || die "cargo build failed"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER_BIN=$TARGET/release/missive
LOADGEN=$TARGET/release/loadgen

# The bus choice exists when the server's --help documents MISSIVE_BUS with a redis value.
HELP=$("$SERVER_BIN" --help 2>&1 || true)
HAS_BUS_SETTING=false
if grep -q 'MISSIVE_BUS' <<<"$HELP"; then HAS_BUS_SETTING=true; fi
NOTES=()
buses=()
for bus in $BUSES; do
  case $bus in
    postgres) buses+=(postgres) ;;
    redis)
      if [ "$HAS_BUS_SETTING" = true ] && grep -A3 'MISSIVE_BUS' <<<"$HELP" | grep -qi redis; then
        if ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
          say "Redis is not answering at $REDIS_URL: starting the local one"
          redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
            --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
          for _ in $(seq 1 30); do redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && break; sleep 0.2; done
        fi
        if redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
          buses+=(redis)
        else
          NOTES+=("Redis bus not measured: Redis does not answer at $REDIS_URL.")
        fi
      else
        NOTES+=("Redis bus not measured: this binary does not accept MISSIVE_BUS=redis (its --help does not list it).")
      fi
      ;;
    *) die "unknown bus '$bus' in MISSIVE_BENCH_BUSES" ;;
  esac
done
for n in "${NOTES[@]}"; do say "$n"; done

PRELOADED=$(psql "$PG_URL/postgres" -Atc "select current_setting('shared_preload_libraries')" 2>/dev/null || true)
USE_PGSS=false
case $PRELOADED in *pg_stat_statements*) USE_PGSS=true ;; esac

# start_nodes N BUS: N nodes on $DB; sets PIDS and URLS.
start_nodes() {
  local n=$1 bus=$2 prefix="missive_bench_$$_$RANDOM"
  local busenv=()
  [ "$HAS_BUS_SETTING" = true ] && busenv=(MISSIVE_BUS="$bus")
  [ "$bus" = redis ] && busenv+=(MISSIVE_REDIS_URL="$REDIS_URL" MISSIVE_REDIS_PREFIX="$prefix")
  PIDS=(); URLS=()
  for i in $(seq 1 "$n"); do
    local log=$WORK/node-$bus-$n-$i.log # one per run: a reused file could show the last run's address
    : >"$log"                           # exists before the node opens it, for the sed below
    env MISSIVE_ADDR=127.0.0.1:0 DATABASE_URL="$PG_URL/$DB" MISSIVE_JWT_SECRET="$JWT_SECRET" \
        MISSIVE_SEND_RATE=0 MISSIVE_ACCESS_TTL=2h MISSIVE_STATIC_DIR="$ROOT/static" \
        MISSIVE_AUTH_RATE=0 MISSIVE_HANDSHAKE_RATE=0 MISSIVE_MAX_CONNS_PER_ADDR=0 MISSIVE_EVENT_RATE=0 \
        RUST_LOG=warn "${busenv[@]}" "$SERVER_BIN" >"$log" 2>&1 </dev/null &
    PIDS+=($!)
    local url=""
    for _ in $(seq 1 300); do
      url=$(sed -n 's/^missive listening on \(http:[^ ]*\).*/\1/p' "$log" | head -1)
      [ -n "$url" ] && break
      kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$log" >&2; die "node $i exited at start"; }
      sleep 0.1
    done
    [ -n "$url" ] || die "node $i did not report its address within 30 s"
    URLS+=("$url")
  done
  # Every node ready (its bus up) before the load starts.
  for url in "${URLS[@]}"; do
    for _ in $(seq 1 100); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break
      sleep 0.1
    done
  done
}

stop_nodes() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

# A metric summed over every node (0 when absent); prints "absent" if no node exports it.
metric_sum() {
  local name=$1 total=0 found=false v
  for url in "${URLS[@]}"; do
    v=$(curl -s "$url/metrics" | awk -v n="$name" '$1 == n || index($1, n"{") == 1 { s += $2; f = 1 } END { if (f) printf "%.0f", s }')
    if [ -n "$v" ]; then found=true; total=$((total + v)); fi
  done
  if [ "$found" = true ]; then echo "$total"; else echo absent; fi
}

# "xact_commit rows_written" of the run's database.
db_counters() {
  psql "$PG_URL/postgres" -Atc "select xact_commit, tup_inserted + tup_updated + tup_deleted
    from pg_stat_database where datname = '$DB'" | tr '|' ' '
}
pgss_calls() {
  psql "$PG_URL/$DB" -Atc "select coalesce(sum(calls), 0) from pg_stat_statements
    where dbid = (select oid from pg_database where datname = current_database())"
}
# CPU seconds (user + system) of every postgres process, and of the nodes.
ticks() { awk '{ s += $14 + $15 } END { print s + 0 }' "$@" 2>/dev/null || echo 0; }
pg_cpu() { ticks $(pgrep -x postgres | sed 's|.*|/proc/&/stat|'); }
nodes_cpu() { ticks $(printf '/proc/%s/stat ' "${PIDS[@]}"); }
HZ=$(getconf CLK_TCK)

ROWS=$WORK/rows.md
: >"$ROWS"
START=$(date +%s)
for bus in "${buses[@]}"; do
  for n in $NODE_COUNTS; do
    DB="missive_bench_cluster_$(date +%s)_$$"
    say "$bus bus, $n node(s): database $DB"
    start_nodes "$n" "$bus"
    [ "$USE_PGSS" = true ] && psql "$PG_URL/$DB" -qc 'create extension if not exists pg_stat_statements' >/dev/null
    pool=$WORK/users.json
    "$LOADGEN" users --url "${URLS[0]}" --count $((PAIRS * 2)) --out "$pool" --concurrency 8 >/dev/null

    # Idle background of the database (pings, node stats), to subtract.
    sleep 1.5
    read -r x0 w0 < <(db_counters)
    sleep 3
    read -r x1 w1 < <(db_counters)
    bg_x=$(awk -v a="$x0" -v b="$x1" 'BEGIN { print (b - a) / 3 }')
    bg_w=$(awk -v a="$w0" -v b="$w1" 'BEGIN { print (b - a) / 3 }')

    also=()
    for url in "${URLS[@]:1}"; do also+=(--also-url "$url"); done
    s0=$(metric_sum missive_messages_stored_total); b0=$(metric_sum missive_bus_bytes_sent_total)
    r0=$(metric_sum missive_bus_bytes_received_total)
    [ "$USE_PGSS" = true ] && psql "$PG_URL/$DB" -qAtc 'select pg_stat_statements_reset()' >/dev/null
    read -r x0 w0 < <(db_counters)
    p0=$(pg_cpu); c0=$(nodes_cpu); t0=$(date +%s.%N)

    out=$("$LOADGEN" dm --url "${URLS[0]}" "${also[@]}" --users "$pool" --pairs "$PAIRS" --window "$WINDOW" \
      --duration "$SECS" --warmup "$WARMUP" --quiesce 5 --json --label "$bus, $n nodes" 2>"$WORK/lg.err") \
      || { cat "$WORK/lg.err" >&2; die "loadgen dm failed ($bus, $n nodes)"; }
    cat "$WORK/lg.err" >&2

    t1=$(date +%s.%N); p1=$(pg_cpu); c1=$(nodes_cpu)
    sleep 2 # Postgres flushes a backend's statistics at most once a second
    read -r x1 w1 < <(db_counters)
    s1=$(metric_sum missive_messages_stored_total); b1=$(metric_sum missive_bus_bytes_sent_total)
    r1=$(metric_sum missive_bus_bytes_received_total)
    # A counter appears on its first increment: absent before the run but present after is 0.
    if [ "$b0" = absent ] && [ "$b1" != absent ]; then b0=0; fi
    if [ "$r0" = absent ] && [ "$r1" != absent ]; then r0=0; fi
    if [ "$r1" = absent ]; then r1=0; r0=0; fi
    calls=""; [ "$USE_PGSS" = true ] && calls=$(pgss_calls)

    row=$(jq -r --arg bus "$bus" --arg n "$n" \
      --arg x "$((x1 - x0))" --arg w "$((w1 - w0))" --arg bgx "$bg_x" --arg bgw "$bg_w" \
      --arg s0 "$s0" --arg s1 "$s1" --arg b0 "$b0" --arg b1 "$b1" --arg r0 "$r0" --arg r1 "$r1" \
      --arg calls "$calls" --arg p "$((p1 - p0))" --arg c "$((c1 - c0))" --arg hz "$HZ" \
      --arg secs "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" --arg wall_idle "2" '
      def f(x; d): if x == null then "n/a" else (x * pow(10; d) | round / pow(10; d) | tostring) end;
      ($secs | tonumber) as $t
      | (if $s0 == "absent" then null else (($s1 | tonumber) - ($s0 | tonumber)) end) as $msgs
      | (($x | tonumber) - ($bgx | tonumber) * ($t + ($wall_idle | tonumber))) as $xacts
      | (($w | tonumber) - ($bgw | tonumber) * ($t + ($wall_idle | tonumber))) as $rows
      | "| \($bus) | \($n) | \(.msgs_per_s) | \(f(.deliver.p50_ms; 1)) / \(f(.deliver.p99_ms; 1)) | \($msgs // "n/a") | "
        + (if $msgs and $msgs > 0 then
             (if $calls != "" then f(($calls | tonumber) / $msgs; 2) + " statements" else "n/a" end) + " | "
             + f($xacts / $msgs; 2) + " | " + f($rows / $msgs; 2) + " | "
             + (if $b0 == "absent" then "n/a (no metric)" else f((($b1 | tonumber) - ($b0 | tonumber)) / $msgs; 0) + " / " + f((($r1 | tonumber) - ($r0 | tonumber)) / $msgs; 0) end)
           else "n/a | n/a | n/a | n/a" end)
        + " | " + (if $msgs and $msgs > 0 then f(($p | tonumber) / ($hz | tonumber) * 1e6 / $msgs; 0) + " | " + f(($c | tonumber) / ($hz | tonumber) * 1e6 / $msgs; 0) else "n/a | n/a" end) + " |"
      ' <<<"$out")
    echo "$row" >>"$ROWS"
    say "$row"
    stop_nodes
    psql "$PG_URL/postgres" -qc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
    DB=""
    sleep 2
  done
done
ELAPSED=$(( $(date +%s) - START ))

REPORT=$WORK/report.md
{
  echo "Closed-loop \`dm\`: $PAIRS pairs, window $WINDOW, ${SECS} s measured after ${WARMUP} s of warm-up; with 2+"
  echo "nodes the two users of every pair are on different nodes. $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)),"
  echo "nothing pinned; $(psql "$PG_URL/postgres" -Atc "select 'Postgres ' || current_setting('server_version') || ', synchronous_commit=' || current_setting('synchronous_commit')"),"
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ -n "$(git status --porcelain 2>/dev/null)" ] && echo ' (with uncommitted changes)'), $(date -u '+%Y-%m-%d %H:%M UTC'), ${ELAPSED} s."
  echo
  echo "| Bus | Nodes | msgs/s | deliver p50 / p99 ms | messages stored | statements/msg | transactions/msg | rows written/msg | bus bytes/msg sent / received | Postgres CPU µs/msg | nodes' CPU µs/msg |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  cat "$ROWS"
  echo
  if [ "$USE_PGSS" = true ]; then
    echo "Statements per message: \`pg_stat_statements\` calls in the run's database over the run (background included)."
  else
    echo "Statements per message: n/a, Postgres does not preload \`pg_stat_statements\`; transactions and rows written"
    echo "per message come from \`pg_stat_database\` (the run's database), minus the idle rate measured before."
  fi
  echo "Messages stored: \`missive_messages_stored_total\` over the nodes (warm-up and drain included, like the database and CPU counters)."
  echo "CPU per message: user + system time of every \`postgres\` process (other databases' work on the machine included) and of the nodes, over the load generator's run, per message stored."
  for n in "${NOTES[@]}"; do echo; echo "$n"; done
} >"$REPORT"
cat "$REPORT"
if [ -n "${MISSIVE_BENCH_OUT:-}" ]; then cp "$REPORT" "$MISSIVE_BENCH_OUT"; say "Written to $MISSIVE_BENCH_OUT"; fi
