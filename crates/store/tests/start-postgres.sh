#!/usr/bin/env bash
# Starts (or finds already running) a throwaway PostgreSQL cluster on loopback for the store's
# conformance tests, and prints its URL on stdout. Idempotent: safe to run again.
#
#   usage: start-postgres.sh [PORT] [DIR]        (defaults: 55432 /tmp/pgtest)
#   TEST_DATABASE_URL=$(crates/store/tests/start-postgres.sh) cargo test -p prov-store
#   stop:  pg_ctl -D DIR/data stop   (as the cluster's owner)
#
# Trust authentication on 127.0.0.1 only: for tests, never for real data.
set -euo pipefail

port="${1:-55432}"
dir="${2:-/tmp/pgtest}"
data="$dir/data"
log="$dir/log"

find_bindir() {
    local d
    for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -Vr); do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            echo "$d"
            return 0
        fi
    done
    command -v pg_ctl >/dev/null 2>&1 && dirname "$(command -v pg_ctl)" && return 0
    return 1
}

if ! bindir="$(find_bindir)"; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "installing PostgreSQL (apt-get)" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        bindir="$(find_bindir)"
    else
        echo "PostgreSQL binaries not found; install the 'postgresql' package" >&2
        exit 1
    fi
fi

# initdb refuses to run as root: use the postgres system user then.
if [[ "$(id -u)" -eq 0 ]]; then
    owner=postgres
    id "$owner" >/dev/null 2>&1 || useradd --system --no-create-home "$owner"
    install -d -o "$owner" -m 700 "$dir"
    as_owner() { runuser -u "$owner" -- "$@"; }
else
    install -d -m 700 "$dir"
    as_owner() { "$@"; }
fi

if [[ ! -f "$data/PG_VERSION" ]]; then
    echo "initdb $data" >&2
    as_owner "$bindir/initdb" -D "$data" -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8 >&2
fi

if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "already running: $data" >&2
else
    echo "starting PostgreSQL on 127.0.0.1:$port (log: $log)" >&2
    # Durable defaults on purpose, so timings measured here mean something; more connections
    # because every parallel test opens its own pools.
    as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 \
        -o "-k $dir -c listen_addresses=127.0.0.1 -p $port -c max_connections=200" \
        start >&2
fi

echo "postgres://postgres@127.0.0.1:$port/postgres"
