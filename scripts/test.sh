#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, clippy with warnings as errors, and every test
# on SQLite and on a throwaway PostgreSQL cluster on loopback (installed from Debian's packages
# when missing and we are root).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL server binaries are missing; install the 'postgresql' package" >&2
    exit 1
  fi
fi

if ! command -v python3 >/dev/null 2>&1; then
  # The RPS interoperability test talks to Python's own xmlrpc.server.
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3 >/dev/null
  else
    echo "python3 is missing (needed by the XML-RPC interoperability test)" >&2
    exit 1
  fi
fi

# The web UI's browser tests: Debian's Chromium and Node.js, playwright-core from npm; openssl
# makes the HTTPS test's throwaway certificate.
if [ "$(id -u)" = 0 ] && { ! command -v chromium >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; }; then
  log "installing Chromium, Node.js and openssl from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's nodejs brings no npm; a nodesource nodejs conflicts with Debian's npm.
  apt-get install -y -qq chromium nodejs openssl >/dev/null
  command -v npm >/dev/null 2>&1 || apt-get install -y -qq npm >/dev/null
fi
if command -v chromium >/dev/null 2>&1 && command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  log "npm ci (tests/browser)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  # From here on the browser tests must run, not skip.
  export TEST_REQUIRE_BROWSER=1
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# Without the `demo` feature the simulators are not linked into the production binary.
log "a build without the demo feature links no simulator"
if cargo tree -p yealink-prov --no-default-features --features jemalloc -e normal --prefix none |
  grep -q '^prov-sim '; then
  echo "prov-sim is a dependency of yealink-prov without the demo feature" >&2
  exit 1
fi
cargo tree -p yealink-prov -e normal --prefix none | grep -q '^prov-sim ' || {
  echo "prov-sim is missing from the default build, which runs the demo" >&2
  exit 1
}

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  log "starting a throwaway PostgreSQL cluster on loopback"
  pg_dir=$(mktemp -d /tmp/yealink-prov-pg.XXXXXX)
  pg_port=${PG_PORT:-55432}
  TEST_DATABASE_URL=$(bash crates/store/tests/start-postgres.sh "$pg_port" "$pg_dir" | tail -n 1)
  export TEST_DATABASE_URL
  # The PostgreSQL half must run here, not skip.
  export TEST_REQUIRE_POSTGRES=1
  stop_pg() {
    local ctl; ctl="$(pg_bin)/pg_ctl"
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true
    else "$ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true; fi
    rm -rf "$pg_dir"
  }
  trap stop_pg EXIT
fi
echo "TEST_DATABASE_URL=${TEST_DATABASE_URL%%@*}@..."

# The browser tests drive both binaries; nextest builds only the server's.
cargo build -q -p prov-sim --bin yealink-sim

log "tests (SQLite and PostgreSQL)"
if cargo nextest --version >/dev/null 2>&1; then
  # (No doc tests in this workspace; nextest's summary is the closing line CI reads.)
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
