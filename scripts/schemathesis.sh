#!/usr/bin/env bash
# Holds the OpenAPI document to its word: schemathesis (PyPI) generates requests from
# /api/v1/openapi.json, valid and invalid, and checks every answer against the document
# (status codes, content types, response schemas) and against the schema's promise both
# ways: what the document allows must be accepted, what it forbids must be refused. A
# client generated from the document then never sends what the server refuses.
#
# It runs against a real `qlink serve` on a fresh database of its own (created here and
# dropped at the end), once without a login, once as a clinic's staff and once as the
# operator, with a fixed seed and bounded examples so that a run is reproducible and
# takes a few minutes at most. Exits non-zero on any failure. scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

SCHEMATHESIS_VERSION=4.32.5
VENV=${QLINK_SCHEMATHESIS_VENV:-/var/tmp/qlink-schemathesis}
DB=qlink_schemathesis
QLINK=$CARGO_TARGET_DIR/debug/qlink
# Reproducible: the same seed and budget give the same requests (replay or widen a run
# with QLINK_SCHEMATHESIS_SEED / QLINK_SCHEMATHESIS_EXAMPLES).
SEED=${QLINK_SCHEMATHESIS_SEED:-20260301}
EXAMPLES=${QLINK_SCHEMATHESIS_EXAMPLES:-25}
WORK=$(mktemp -d /var/tmp/qlink-schemathesis-run.XXXXXX)

ensure_system_packages python3-venv curl
if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
    log "Installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
cargo build --quiet -p qlink-server

server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log "A fresh database ($DB) with a clinic, a staff login and an operator login"
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
export RUST_LOG=${RUST_LOG:-warn}
"$QLINK" migrate >/dev/null
"$QLINK" clinic create --slug schemathesis-clinic --name "Schemathesis Clinic" >/dev/null
# Throwaway passwords for a throwaway database.
STAFF_EMAIL=staff@schemathesis.qlink.test STAFF_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
ADMIN_EMAIL=operator@schemathesis.qlink.test ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
QLINK_PASSWORD=$STAFF_PASSWORD "$QLINK" user create --email "$STAFF_EMAIL" --role STAFF \
    --clinic schemathesis-clinic >/dev/null
QLINK_PASSWORD=$ADMIN_PASSWORD "$QLINK" user create --email "$ADMIN_EMAIL" --role SUPER_ADMIN >/dev/null

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
log "Starting qlink serve on $BASE (log: $WORK/server.log)"
# A secret key, so that a clinic sender's access token (which the document allows) is sealed
# and stored rather than refused with 409 secret_key_missing.
QLINK_SECRET_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
QLINK_BIND=127.0.0.1:$PORT QLINK_PUBLIC_URL=$BASE QLINK_NO_WORKER=1 QLINK_LOG_FORMAT=json QLINK_SECRET_KEY=$QLINK_SECRET_KEY \
    "$QLINK" serve >"$WORK/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.1
done
curl -fsS "$BASE/readyz" >/dev/null

login() {
    curl -fsS -H 'Content-Type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"$2\",\"issue_token\":true}" "$BASE/api/v1/auth/login" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
STAFF_TOKEN=$(login "$STAFF_EMAIL" "$STAFF_PASSWORD")
ADMIN_TOKEN=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")

status=0
summary=()
export SCHEMATHESIS_HOOKS=$PWD/scripts/schemathesis_hooks.py
# One run as one caller over the operations that caller is for (a login on the others
# only repeats the public run's answers). Logout is left out of the logged-in runs: it
# would end the very session the rest of the run relies on; the public run calls it.
run() {
    local who=$1
    shift
    log "schemathesis as $who"
    local started=$SECONDS
    # From the scratch directory: schemathesis keeps its replay data in the working
    # directory. No example database, so one run never feeds the next; Hypothesis's health
    # checks off, since they time generation and a busy 2-core machine would fail them.
    local tries=0
    while true; do
        tries=$((tries + 1))
        # One worker: with two, Hypothesis parses filter lambdas' sources on two threads at
        # once, and CPython 3.11's AST constructor keeps its recursion depth in shared state
        # ("AST constructor recursion depth mismatch", two operator operations, CI runs).
        if (cd "$WORK" && "$VENV/bin/schemathesis" run "$BASE/api/v1/openapi.json" \
                --checks all --seed "$SEED" --max-examples "$EXAMPLES" --generation-database none \
                --suppress-health-check all --request-timeout 10 --workers 1 --no-color "$@" 2>&1) |
                tee "$WORK/$who.log"; then
            summary+=("$who: ok ($((SECONDS - started)) s, $tries run(s))")
            return
        fi
        # A run that found no failure but stopped on the tool's own "Runtime Error" (seen: a
        # Python AST recursion-depth error inside Hypothesis, gone on the next run) is run
        # once more; a failure of the API never is.
        if [ "$tries" -lt 2 ] && grep -q "Runtime Error" "$WORK/$who.log" && ! grep -q "= FAILURES =" "$WORK/$who.log"; then
            log "schemathesis as $who stopped on an internal error of the tool, not a failure of the API: once more"
            continue
        fi
        status=1
        summary+=("$who: FAILED ($((SECONDS - started)) s)")
        return
    done
}
run public --include-tag-regex '^(public|auth|ops|webhook)$'
run staff -H "Authorization: Bearer $STAFF_TOKEN" --include-tag-regex '^(staff|auth)$' \
    --exclude-path /api/v1/auth/logout --exclude-path /api/v1/auth/login
run operator -H "Authorization: Bearer $ADMIN_TOKEN" --include-tag-regex '^(admin|auth)$' \
    --exclude-path /api/v1/auth/logout --exclude-path /api/v1/auth/login

# A 500 already fails not_a_server_error; this also catches what the server logged as an
# error while still answering.
if grep -q '"level":"ERROR"' "$WORK/server.log"; then
    status=1
    summary+=("server log: errors (below)")
    grep '"level":"ERROR"' "$WORK/server.log" | head -20
fi
if [ $status != 0 ]; then
    log "The server's log, last lines (the scratch directory goes with the database)"
    tail -n 30 "$WORK/server.log"
fi
log "schemathesis summary (seed $SEED, $EXAMPLES examples per operation, $SECONDS s in all)"
printf '  %s\n' "${summary[@]}"
exit $status
