#!/usr/bin/env bash
# Runs every test of Missive: the Rust suites (unit + HTTP integration, on SQLite and Postgres),
# the Socket.IO interop suite with the official JavaScript client (on SQLite and Postgres), the
# REST API fuzzed against its OpenAPI document (schemathesis, on both), the web client's
# end-to-end suite in headless Chromium, and a short fuzzing of every client payload's decoding
# (cargo-fuzz; MISSIVE_FUZZ_SECONDS, default 25; scripts/fuzz.sh runs it longer).
#
# It installs and starts what it needs: the npm packages (from the lock file), Debian's chromium
# and nginx (when root and apt are available), s3s-fs (an S3 server) and cargo-fuzz (both from
# crates.io, cached), the local PostgreSQL cluster if it is stopped, and Redis (Debian's
# redis-server, for the MISSIVE_BUS=redis runs of the cluster suites) if it does not answer.
# Outside CI a missing Postgres, Redis, Chromium, nginx or tool is a loud, explained skip; with
# CI=true it fails.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CI=${CI:-false}
PG_URL=${MISSIVE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}
export MISSIVE_TEST_PG_URL=$PG_URL

# Every heading carries the seconds since the script started, so a slow step shows in the log.
say() { printf '\n==> [%ss] %s\n' "$SECONDS" "$*"; }
skip() { printf '\n*** SKIPPED: %s ***\n\n' "$*" >&2; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

failed=()
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1 || psql "$PG_URL/postgres" -qc 'select 1' >/dev/null 2>&1; }

# --- Postgres -------------------------------------------------------------------------------
have_pg=true
if ! pg_up; then
  say "Postgres is not answering: trying to start the local cluster"
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>&1 || true; done
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
  if ! pg_up; then
    have_pg=false
    [ "$CI" = "true" ] && die "Postgres is not reachable at $PG_URL and could not be started; CI must run the Postgres suite"
    skip "Postgres is not reachable at $PG_URL: the Postgres runs of every suite are skipped. Start PostgreSQL or set MISSIVE_TEST_PG_URL."
  fi
fi

# --- Redis ----------------------------------------------------------------------------------
# The cluster suites run once per bus; the Redis runs use the Redis at MISSIVE_TEST_REDIS_URL
# (each cluster under a prefix of its own, so a shared Redis is fine).
export MISSIVE_TEST_REDIS_URL=${MISSIVE_TEST_REDIS_URL:-redis://127.0.0.1:6379}
redis_up() {
  local hostport=${MISSIVE_TEST_REDIS_URL#redis://}
  hostport=${hostport%%/*}
  local host=${hostport%:*} port=${hostport##*:}
  [ "$host" = "$hostport" ] && port=6379
  (exec 3<>"/dev/tcp/$host/$port" && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null
}
if [ "$have_pg" = true ] && ! redis_up; then
  say "Redis is not answering at $MISSIVE_TEST_REDIS_URL: trying to start it"
  if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) || true
  fi
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
  fi
  if ! redis_up; then
    [ "$CI" = "true" ] && die "Redis is not reachable at $MISSIVE_TEST_REDIS_URL and could not be started; CI must run the MISSIVE_BUS=redis cluster tests"
    skip "Redis is not reachable at $MISSIVE_TEST_REDIS_URL: the MISSIVE_BUS=redis runs of the cluster suites are skipped. Install and start redis-server."
  fi
fi

# --- Chromium -------------------------------------------------------------------------------
CHROMIUM=${MISSIVE_CHROMIUM:-/usr/bin/chromium}
have_chromium=true
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "Installing Debian's chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || true
  fi
  if [ ! -x "$CHROMIUM" ]; then
    have_chromium=false
    [ "$CI" = "true" ] && die "Chromium is not installed at $CHROMIUM and could not be installed; CI must run the browser tests"
    skip "Chromium is not at $CHROMIUM: the web client's end-to-end tests are skipped. Install it with 'apt-get install chromium'."
  fi
fi
export MISSIVE_CHROMIUM=$CHROMIUM

# --- nginx ----------------------------------------------------------------------------------
# The deployment test (tests/js/interop/deploy_nginx.test.js, Postgres lane) starts Debian's
# nginx with deploy/nginx/missive.conf in front of three nodes; it runs nginx itself, on loopback
# ports with its own folder, so the package's service is neither needed nor touched.
NGINX=${MISSIVE_NGINX:-/usr/sbin/nginx}
if [ ! -x "$NGINX" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "Installing Debian's nginx for the deployment test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null) || true
  fi
  if [ ! -x "$NGINX" ]; then
    [ "$CI" = "true" ] && die "nginx is not installed at $NGINX and could not be installed; CI must run the deployment test"
    skip "nginx is not at $NGINX: the deployment test behind nginx is skipped. Install it with 'apt-get install nginx'."
  fi
fi
export MISSIVE_NGINX=$NGINX

# --- S3 server for the attachment tests -----------------------------------------------------
# s3s-fs (crates.io): a real S3 server over HTTP, SigV4-checked, keeping objects on disk. The
# Rust attachment tests start one per test when the binary is there.
if S3S_BIN=$(scripts/install-s3s.sh | tail -1) && [ -x "$S3S_BIN" ]; then
  export MISSIVE_S3S_BIN=$S3S_BIN
else
  [ "$CI" = "true" ] && die "s3s-fs could not be installed (scripts/install-s3s.sh); CI must run the S3 attachment tests"
  skip "s3s-fs could not be installed: the S3 runs of the attachment tests are skipped. Run scripts/install-s3s.sh to see why."
fi

# --- cargo-fuzz for the fuzzing step -------------------------------------------------------
# cargo-fuzz (crates.io, cached like s3s-fs); the targets build on the stable toolchain.
FUZZ_SECONDS=${MISSIVE_FUZZ_SECONDS:-25}
[ "$FUZZ_SECONDS" -ge 1 ] 2>/dev/null || die "MISSIVE_FUZZ_SECONDS must be a number of seconds, at least 1"
have_fuzz=true
if ! CARGO_FUZZ=$(scripts/install-cargo-fuzz.sh | tail -1) || [ ! -x "$CARGO_FUZZ" ]; then
  have_fuzz=false
  [ "$CI" = "true" ] && die "cargo-fuzz could not be installed (scripts/install-cargo-fuzz.sh); CI must fuzz the client payloads"
  skip "cargo-fuzz could not be installed: fuzzing the client payloads is skipped. Run scripts/install-cargo-fuzz.sh to see why."
fi

# --- Node packages --------------------------------------------------------------------------
say "Installing the JS test packages (npm ci)"
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"

say "Installing the client library's packages (npm ci in clients/js)"
(cd clients/js && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in clients/js failed"

# --- Rust -----------------------------------------------------------------------------------
say "Building the server"
cargo build --quiet || die "cargo build failed"
export MISSIVE_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/missive

# Three lanes run at once, each its steps one after the other into its own log, shown when all
# are done:
# - sqlite: the Rust suites (both databases inside), then the interop suite, the client
#   library's tests, schemathesis and the browser suite, on SQLite;
# - postgres: the same suites (with the cluster suites) on Postgres;
# - fuzz: building the fuzz target (a release build, niced to the lowest priority, so it takes
#   only the CPU the suites leave; it had been the critical path at the end of a lane) and
#   fuzzing the client payloads.
# A fourth lane for the browser suite was tried: 18 minutes instead of about 24, but on a slow
# hour of the 2-core machine the suites' timing-sensitive tests failed under the extra load.
LANES=$(mktemp -d)
trap 'rm -rf "$LOG" "$LANES"' EXIT
lane_step() {
  local lane=$1 name=$2 start=$SECONDS; shift 2
  printf '\n==> [%ss] %s\n' "$start" "$name" >>"$LANES/$lane.log"
  if ! "$@" >>"$LANES/$lane.log" 2>&1; then echo "$name" >>"$LANES/$lane.failed"; fi
  printf '<== [%ss] took %ss: %s\n' "$SECONDS" "$((SECONDS - start))" "$name" >>"$LANES/$lane.log"
}
suites() {
  local lane=$1 db=$2
  lane_step "$lane" "Socket.IO interop suite, official socket.io-client, on $db" \
    env MISSIVE_TEST_DB="$db" bash -c 'cd tests/js && npm test --silent'
  lane_step "$lane" "Client library (clients/js): unit tests and integration tests against the server, on $db" \
    env MISSIVE_TEST_DB="$db" bash -c 'cd clients/js && npm test --silent'
  lane_step "$lane" "REST API fuzzed against docs/openapi.json (schemathesis) on $db" scripts/schemathesis.sh "$db"
  if [ "$have_chromium" = true ]; then
    lane_step "$lane" "Web client end-to-end suite in headless Chromium, on $db" \
      env MISSIVE_TEST_DB="$db" bash -c 'cd tests/js && npm run e2e --silent'
  fi
}
lane() {
  case $1 in
    sqlite)
      lane_step sqlite "Rust tests (unit, HTTP integration on SQLite and Postgres, load generator)" \
        cargo test --workspace --quiet
      suites sqlite sqlite ;;
    postgres) suites postgres postgres ;;
    fuzz)
      lane_step fuzz "Fuzzing every client payload's decoding (cargo-fuzz, libFuzzer) for ${FUZZ_SECONDS}s" \
        scripts/fuzz.sh "$FUZZ_SECONDS" ;;
  esac
}

say "Building the test binaries"
cargo test --workspace --quiet --no-run || die "building the tests failed"

dbs=(sqlite)
[ "$have_pg" = true ] && dbs+=(postgres)
lanes=("${dbs[@]}")
[ "$have_fuzz" = true ] && lanes+=(fuzz)
say "Running the suites: one lane each for ${lanes[*]}, logs below when all are done"
pids=()
for l in "${lanes[@]}"; do
  lane "$l" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
for l in "${lanes[@]}"; do
  say "Lane $l"
  cat "$LANES/$l.log" | tee -a "$LOG"
  if [ -f "$LANES/$l.failed" ]; then
    while IFS= read -r name; do failed+=("$name"); done <"$LANES/$l.failed"
  fi
done

# One closing line for every suite together: cargo's "test result" lines and node's "# pass/# fail
# /# skipped". Postgres runs without a Postgres (outside CI) are skipped, never passed: the HTTP
# suite's harness reports them as ignored; cargo's own harness (unit tests) cannot, so those
# print a "*** SKIPPED-PG" line and are moved here from passed to skipped.
sum() { grep -oE "$1" "$LOG" | grep -oE '[0-9]+' | awk '{ s += $1 } END { print s + 0 }'; }
pg_unit_skips=$(grep -oE '\*\*\* SKIPPED-PG ' "$LOG" | wc -l)
passed=$(( $(sum '[0-9]+ passed;') + $(sum '^# pass [0-9]+') - pg_unit_skips ))
failed_n=$(( $(sum '[0-9]+ failed;') + $(sum '^# fail [0-9]+') ))
skipped=$(( $(sum '[0-9]+ ignored;') + $(sum '^# skipped [0-9]+') + pg_unit_skips ))
echo
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  echo "tests: $passed passed, $failed_n failed, $skipped skipped"
  exit 1
fi
echo "tests: $passed passed, $failed_n failed, $skipped skipped"
