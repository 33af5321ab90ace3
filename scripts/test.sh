#!/usr/bin/env bash
# Runs every QLink test: unit and #[pg_test]s inside PostgreSQL, SQL regression and
# isolation tests, the end-to-end tests against the real extension, and schemathesis
# against the OpenAPI document.
# `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_rust
# Headless Chromium and its driver for the page tests, and fonts for the eight languages' scripts.
ensure_system_packages chromium chromium-driver fonts-noto-core openssl
ensure_postgres_running
ensure_cargo_pgrx

PGRX_DATA=${PGRX_DATA:-/var/tmp/qlink-pgrx}
mkdir -p "$PGRX_DATA" && chown postgres "$PGRX_DATA"
status=0
summary=()

log "0/4 Formatting (cargo fmt --check)"
if cargo fmt --all -- --check >/dev/null; then
    summary+=("fmt: ok")
else
    status=1; summary+=("fmt: FAILED (run cargo fmt --all)"); cargo fmt --all -- --check | head -40 || true
fi
log "0/4 Lints (cargo clippy -D warnings)"
if cargo clippy --quiet --workspace --exclude qlink --all-targets -- -D warnings &&
        (cd pg_ext && cargo clippy --quiet --all-targets --features pg_test -- -D warnings); then
    summary+=("clippy: ok")
else
    status=1; summary+=("clippy: FAILED")
fi

log "1/4 Unit and #[pg_test] tests inside PostgreSQL (cargo pgrx test)"
# cargo pgrx test installs the extension into the PostgreSQL it runs by copying the library
# over the installed one, and a backend that opens a half-copied library dies (SIGBUS) and
# takes its cluster down with it. So it gets a private copy of the installation, with its
# own pgrx settings and build directory, and never touches the system's.
private_postgres "$PGRX_DATA/pg"
mkdir -p "$PGRX_DATA/home"
PGRX_HOME=$PGRX_DATA/home cargo pgrx init --pg$PG_MAJOR "$PGRX_DATA/pg/lib/postgresql/$PG_MAJOR/bin/pg_config" >/dev/null
if (cd pg_ext && PGRX_HOME=$PGRX_DATA/home CARGO_TARGET_DIR=$PGRX_DATA/target \
        cargo pgrx test pg$PG_MAJOR --runas postgres --pgdata "$PGRX_DATA/data"); then
    summary+=("pg_ext: ok")
else
    status=1; summary+=("pg_ext: FAILED")
fi

install_extension debug
# The upgrade scripts are generated from the build (write_upgrade_scripts): a change to the
# extension must be committed with the upgrade script it produces.
if [ -n "${CI:-}" ] && [ -n "$(git status --porcelain -- pg_ext/sql)" ]; then
    status=1; summary+=("upgrade script: STALE (rebuild and commit pg_ext/sql)"); git status --short -- pg_ext/sql
fi
cargo build --quiet -p qlink-server

log "2/4 SQL regression tests (pg_regress) and isolation specs (pg_isolation_regress)"
psql -qX -d postgres -c "DROP DATABASE IF EXISTS qlink_regress" -c "CREATE DATABASE qlink_regress"
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/qlink_regress" RUST_LOG=warn "$CARGO_TARGET_DIR/debug/qlink" migrate
PGXS=$(dirname "$($PG_CONFIG --pgxs)")/..
regress_args=(--use-existing --host="$PGHOST" --port="$PGPORT" --user="$PGUSER" --dbname=qlink_regress)
if "$PGXS/test/regress/pg_regress" "${regress_args[@]}" --inputdir=sql/regress \
        --outputdir="$CARGO_TARGET_DIR/regress" --schedule=sql/regress/schedule; then
    summary+=("pg_regress: ok")
else
    status=1; summary+=("pg_regress: FAILED"); cat "$CARGO_TARGET_DIR/regress/regression.diffs" || true
fi
if "$PGXS/test/isolation/pg_isolation_regress" "${regress_args[@]}" --inputdir=sql/isolation \
        --outputdir="$CARGO_TARGET_DIR/isolation" --schedule=sql/isolation/schedule; then
    summary+=("isolation: ok")
else
    status=1; summary+=("isolation: FAILED"); cat "$CARGO_TARGET_DIR/isolation/regression.diffs" || true
fi

log "3/4 End-to-end tests (cargo test) against PostgreSQL with the extension"
# Databases of earlier runs, and the template built from older migrations.
psql -qXAt -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'qlink\_test\_%'" |
    while read -r db; do psql -qX -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"; done
# The upgrade test installs earlier releases' builds (made once from the history) and this
# one into a PostgreSQL installation of its own.
QLINK_RELEASE_PACKAGES=$(release_packages)
export QLINK_RELEASE_PACKAGES QLINK_PACKAGE=$(package_dir debug)
# --no-fail-fast: a failing test binary must not hide the results of the ones after it.
if cargo test --workspace --exclude qlink --no-fail-fast 2>&1 | tee "$CARGO_TARGET_DIR/cargo-test.log"; then
    summary+=("cargo test: ok")
else
    status=1; summary+=("cargo test: FAILED")
fi

log "3/4 The OpenAPI document against the server (schemathesis, every check)"
# After the end-to-end tests: it needs the same extension and the built qlink binary.
if bash scripts/schemathesis.sh; then
    summary+=("schemathesis: ok")
else
    status=1; summary+=("schemathesis: FAILED")
fi

log "4/4 Summary"
printf '  %s\n' "${summary[@]}"
exit $status
