#!/usr/bin/env bash
# Sets up and runs QLink on a fresh Debian machine: system packages, PostgreSQL,
# cargo-pgrx, the qlink extension (release build), the database and its migrations,
# a demo clinic with its logins, and then the server itself (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DB_NAME=${QLINK_DB_NAME:-qlink}
export DATABASE_URL=${DATABASE_URL:-postgres://$PGUSER@$PGHOST:$PGPORT/$DB_NAME}

ensure_rust
ensure_system_packages
ensure_postgres_running
ensure_cargo_pgrx
install_extension release

log "Building the qlink server (release)"
cargo build --release -p qlink-server
QLINK="$CARGO_TARGET_DIR/release/qlink"

log "Creating database $DB_NAME and applying migrations"
psql -qXAt -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1 ||
    psql -qX -d postgres -c "CREATE DATABASE \"$DB_NAME\""
"$QLINK" migrate

log "Demo clinic and logins"
export QLINK_BIND=${QLINK_BIND:-127.0.0.1:8080}
export QLINK_PUBLIC_URL=${QLINK_PUBLIC_URL:-http://$QLINK_BIND}
"$QLINK" demo

log "Starting QLink on $QLINK_PUBLIC_URL (Ctrl-C to stop)"
exec "$QLINK" serve
