# Shared by setup.sh and test.sh: everything QLink needs on a fresh Debian machine,
# installed only when missing, so repeated runs are fast.
# shellcheck shell=bash

PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PGRX_VERSION=0.18.0
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/qlink-target}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}

log() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_rust() {
    if ! command -v cargo >/dev/null; then
        echo "Rust is needed: install it with rustup (https://rustup.rs), then run this again." >&2
        exit 1
    fi
}

ensure_system_packages() {
    local wanted=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-client-$PG_MAJOR
                  clang libclang-dev pkg-config sudo bison flex libreadline-dev zlib1g-dev "$@")
    local missing=()
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "Installing system packages: ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

ensure_postgres_running() {
    if ! pg_isready -q -h "$PGHOST" -p "$PGPORT"; then
        log "Starting PostgreSQL $PG_MAJOR"
        as_root pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main start
        for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 1; done
    fi
    pg_isready -h "$PGHOST" -p "$PGPORT"
}

ensure_cargo_pgrx() {
    if [ "$(cargo pgrx --version 2>/dev/null | awk '{print $2}')" != "$PGRX_VERSION" ]; then
        log "Installing cargo-pgrx $PGRX_VERSION (about 10 minutes, once)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
    fi
    if ! grep -qs "pg$PG_MAJOR" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
        cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG"
    fi
}

# Builds the extension and installs it into the system PostgreSQL.
install_extension() {
    log "Building and installing the qlink extension ($1)"
    local flags=()
    [ "$1" = release ] && flags+=(--release)
    (cd pg_ext && as_root env "PATH=$PATH" "CARGO_TARGET_DIR=$CARGO_TARGET_DIR" \
        cargo pgrx install --pg-config "$PG_CONFIG" "${flags[@]}")
}
