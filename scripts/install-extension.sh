#!/usr/bin/env bash
# Installs a packaged qlink build (the output of `cargo pgrx package`) into a PostgreSQL
# installation: the system's, or the relocated copy the upgrade test runs.
#
# Usage: scripts/install-extension.sh PACKAGE_DIR [PG_CONFIG]
#
# Each file is first written beside its destination under a temporary name and then
# renamed over it. A backend that has the old library mapped keeps its copy (the old inode),
# a backend that opens the file sees either the old or the new one, never a half-written
# one: overwriting a loaded library in place crashes the backends that use it. The library
# goes first and the control file last, so the control never names a version whose files
# are not there yet.
set -euo pipefail
pkg=${1:?usage: install-extension.sh PACKAGE_DIR [PG_CONFIG]}
pg_config=${2:-/usr/lib/postgresql/15/bin/pg_config}
libdir=$("$pg_config" --pkglibdir)
extdir=$("$pg_config" --sharedir)/extension

place() { # file destination_dir
    local name tmp
    name=$(basename "$1")
    tmp="$2/.$name.new.$$"
    install -m 0644 "$1" "$tmp"
    mv -f "$tmp" "$2/$name"
}

mapfile -t libs < <(find "$pkg" -type f -name 'qlink*.so')
mapfile -t scripts < <(find "$pkg" -type f -name 'qlink--*.sql')
mapfile -t controls < <(find "$pkg" -type f -name 'qlink.control')
if [ ${#libs[@]} -eq 0 ] || [ ${#scripts[@]} -eq 0 ] || [ ${#controls[@]} -ne 1 ]; then
    echo "install-extension.sh: $pkg is not a qlink package (library, scripts and one control file)" >&2
    exit 1
fi
for f in "${libs[@]}"; do place "$f" "$libdir"; done
for f in "${scripts[@]}"; do place "$f" "$extdir"; done
place "${controls[0]}" "$extdir"
