#!/usr/bin/env bash
# Fuzzes the REST API against its OpenAPI document (docs/openapi.json, served at
# /api/openapi.json) with schemathesis: no response may be a 5xx, every response must match the
# document. Runs a fresh server (port 0) on a fresh database of the kind given (sqlite, the
# default, or postgres), logs a user in, and passes their bearer token.
#
#   scripts/schemathesis.sh [sqlite|postgres]
#
# schemathesis comes from PyPI into a virtualenv under the cargo target directory. Prints
# `# pass 1` or `# fail 1` (counted by scripts/test.sh's closing summary).
set -uo pipefail
cd "$(dirname "$0")/.."
DB=${1:-sqlite}
TARGET=${CARGO_TARGET_DIR:-$(pwd)/target}
BIN=${MISSIVE_BIN:-$TARGET/debug/missive}
PG_BASE=${MISSIVE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}
VENV=$TARGET/schemathesis-venv
ST_VERSION=4.32.5
EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-20}

fail() { echo "schemathesis ($DB): $*" >&2; echo "# fail 1"; exit 1; }

if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "schemathesis==$ST_VERSION" \
    || fail "cannot install schemathesis from PyPI"
fi
[ -x "$BIN" ] || fail "no server binary at $BIN (cargo build)"

WORK=$(mktemp -d)
PG_DB=
case $DB in
  sqlite) DATABASE_URL="sqlite://$WORK/missive.db" ;;
  postgres) PG_DB="missive_st_$(head -c 5 /dev/urandom | od -An -tx1 | tr -d ' \n')"; DATABASE_URL="$PG_BASE/$PG_DB" ;;
  *) fail "unknown database '$DB' (sqlite or postgres)" ;;
esac
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [ -n "$PG_DB" ] && psql "$PG_BASE/postgres" -qc "drop database if exists $PG_DB with (force)" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

DATABASE_URL=$DATABASE_URL MISSIVE_ADDR=127.0.0.1:0 MISSIVE_SEND_RATE=0 RUST_LOG=warn \
  MISSIVE_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
  MISSIVE_STATIC_DIR=static MISSIVE_MEDIA_DIR="$WORK/media" "$BIN" >"$WORK/out.log" 2>"$WORK/err.log" &
SERVER_PID=$!
URL=
for _ in $(seq 1 100); do
  URL=$(grep -oE 'http://[0-9.]+:[0-9]+' "$WORK/out.log" 2>/dev/null | head -1)
  [ -n "$URL" ] && curl -sf "$URL/readyz" >/dev/null && break
  URL=
  sleep 0.1
done
[ -n "$URL" ] || fail "the server did not start: $(cat "$WORK/err.log")"

# A user with a room and a message, so that the operations on ids have something to find.
register() {
  curl -sf "$URL/api/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"password-of-$1\"}"
}
json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
TOKEN=$(register st_alice | json '["access_token"]') || fail "cannot register a user"
BOB=$(register st_bob | json '["user"]["id"]') || fail "cannot register a second user"
ROOM=$(curl -sf "$URL/api/rooms/direct" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"user_id\":\"$BOB\"}" | json '["id"]') || fail "cannot make a room"
curl -sf "$URL/api/rooms/$ROOM/messages" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"body":"hello"}' >/dev/null || fail "cannot send a message"

# logout-all would end the token every other operation uses; it is tested in tests/api.
# Run from the scratch folder: schemathesis keeps a cache (.schemathesis/) in its working folder.
cd "$WORK"
"$VENV/bin/st" run "$URL/api/openapi.json" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$EXAMPLES" \
  --exclude-path /api/auth/logout-all \
  --header "Authorization: Bearer $TOKEN" \
  --seed 1 \
  --workers 1 \
  --max-time 60 \
  --no-color
status=$?
if [ $status -ne 0 ]; then
  echo "--- server log (stderr) ---" >&2
  tail -50 "$WORK/err.log" >&2
  echo "# fail 1"
  exit 1
fi
echo "# pass 1"
