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

# A copy of the system's PostgreSQL (binaries, libraries, share files) under $1, without
# any qlink files. PostgreSQL finds its share and library directories relative to its
# binaries, so what is installed into the copy is seen only by the servers it runs.
private_postgres() {
    local root=$1
    rm -rf "$root"
    mkdir -p "$root/lib/postgresql" "$root/share/postgresql"
    cp -a "/usr/lib/postgresql/$PG_MAJOR" "$root/lib/postgresql/"
    cp -a "/usr/share/postgresql/$PG_MAJOR" "$root/share/postgresql/"
    # The server headers too: pgrx generates its bindings from the pg_config it is given.
    mkdir -p "$root/include/postgresql"
    cp -a "/usr/include/postgresql/$PG_MAJOR" "$root/include/postgresql/"
    find "$root/lib/postgresql/$PG_MAJOR/lib" "$root/share/postgresql/$PG_MAJOR/extension" -name 'qlink*' -delete
}

# This build's version (one workspace version: the extension, the server, the tests).
QLINK_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
# Builds of earlier releases for the upgrade test, each built once from the history.
RELEASES_DIR=${QLINK_RELEASES_DIR:-/var/tmp/qlink-releases}

package_dir() { echo "$CARGO_TARGET_DIR/qlink-package-$1"; }

# Builds the extension into a package directory, installing nothing: the library
# (qlink-<version>.so), the control file, this version's full script and the upgrade
# script from every release in pg_ext/releases.
package_extension() {
    local out flags=(--pg-config "$PG_CONFIG")
    out=$(package_dir "$1")
    [ "$1" = debug ] && flags+=(--debug)
    rm -rf "$out"
    (cd pg_ext && cargo pgrx package "${flags[@]}" --out-dir "$out")
    write_upgrade_scripts "$out"
}

# Builds the extension and installs it into the system PostgreSQL, each file renamed
# into place (scripts/install-extension.sh), never overwritten under running backends.
install_extension() {
    log "Building the qlink extension ($1) and installing it"
    package_extension "$1"
    as_root scripts/install-extension.sh "$(package_dir "$1")" "$PG_CONFIG"
}

# pg_ext/sql/qlink--<release>--<version>.sql for every release: drop every function of
# the installed release, then create this version's, exactly as a fresh install does. The
# extension holds only functions (the tables belong to the migrations), so this is the
# whole upgrade, and it never drifts from a fresh install. Written into the tree (commit
# it with the change that caused it) and into the package.
write_upgrade_scripts() {
    local pkg=$1 full version commit script
    full=$(find "$pkg" -type f -name "qlink--$QLINK_VERSION.sql")
    [ -n "$full" ] || { echo "no qlink--$QLINK_VERSION.sql in $pkg" >&2; return 1; }
    while read -r version commit; do
        case "$version" in "" | "#"* | "$QLINK_VERSION") continue ;; esac
        script=pg_ext/sql/qlink--$version--$QLINK_VERSION.sql
        {
            cat <<SQL
-- qlink $version -> $QLINK_VERSION. Generated by write_upgrade_scripts in scripts/lib.sh from
-- this version's full script; do not edit: change pg_ext/src and rebuild.
\\echo Use "ALTER EXTENSION qlink UPDATE" (qlink migrate) to load this file. \\quit

-- Every function of the installed release goes; this release's are created below, with
-- the same names, arguments, defaults and settings as a fresh install of $QLINK_VERSION.
DO \$\$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT d.objid::regprocedure FROM pg_catalog.pg_depend d
        WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass
          AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'qlink')
          AND d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e'
    LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END
\$\$;

SQL
            grep -v -e '^\\echo Use ' -e '^-- pg_ext/src/.*:[0-9]*$' "$full"
        } >"$script.new"
        mv "$script.new" "$script"
        cp "$script" "$(dirname "$full")/"
    done <pg_ext/releases
}

# The package of a released version, built once from the history (in a target directory
# of its own, so nothing of the current build is overwritten). Prints its directory.
release_package() {
    local version=$1 commit=$2 out src built
    out=$RELEASES_DIR/$version-${commit:0:12}
    if [ ! -f "$out/.complete" ]; then
        if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
            echo "release $version ($commit) is not in this clone's history: git fetch --unshallow" >&2
            return 1
        fi
        src=$(mktemp -d)
        git archive "$commit" | tar -x -C "$src"
        rm -rf "$out"
        (cd "$src/pg_ext" && CARGO_TARGET_DIR=$RELEASES_DIR/target \
            cargo pgrx package --debug --pg-config "$PG_CONFIG" --out-dir "$out") >&2
        rm -rf "$src"
        touch "$out/.complete"
    fi
    # The full script kept in the tree must be the one that release really installs.
    built=$(find "$out" -type f -name "qlink--$version.sql")
    if ! cmp -s "$built" "pg_ext/sql/qlink--$version.sql"; then
        echo "pg_ext/sql/qlink--$version.sql is not the script release $version installs ($built)" >&2
        return 1
    fi
    echo "$out"
}

# "version=package_dir=last_migration ..." of every release, for the upgrade test (which
# rebuilds each release's database with that release's migrations: they never change).
release_packages() {
    local version commit list=() last
    while read -r version commit; do
        case "$version" in "" | "#"* | "$QLINK_VERSION") continue ;; esac
        last=$(git ls-tree --name-only "$commit" migrations/ | sed -n 's|^migrations/V\([0-9]*\)__.*|\1|p' | sort -n | tail -n 1)
        list+=("$version=$(release_package "$version" "$commit")=$last")
    done <pg_ext/releases
    echo "${list[*]}"
}
