#!/usr/bin/env bash
# Database writes per second at rest with N connected innovaphone phones, on PostgreSQL: one
# `yealink-prov serve`, N phones provisioned through the simulated PBX/Users/Devices (each keeps
# its sysclient connection open), then nothing happens for WINDOW seconds while the database's
# own counters (pg_stat_database: rows inserted/updated/deleted, commits) are sampled.
#
#   DATABASE_URL=postgres://... bench/instance-writes.sh [N] [WINDOW] [BIN_DIR]
#
# BIN_DIR (default target/release, built if missing) lets the same run measure an older build
# (e.g. /work/main/target/release). DATABASE_URL names a server where a fresh database may be
# created (like TEST_DATABASE_URL); crates/store/tests/start-postgres.sh starts one on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
WINDOW=${2:-30}
BIN=${3:-target/release}
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL server (see crates/store/tests/start-postgres.sh)}"
if [ ! -x "$BIN/yealink-prov" ] || [ ! -x "$BIN/yealink-sim" ]; then
  cargo build -q --release -p yealink-prov -p prov-sim --bins
  BIN=target/release
fi
db="bench_writes_$$"
admin_url=$DATABASE_URL
url="${DATABASE_URL%/*}/$db"
psql -q "$admin_url" -c "CREATE DATABASE $db"
work=$(mktemp -d /tmp/yp-writes.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
head -c 32 /dev/urandom | base64 >"$work/secret.key"
cleanup() {
  kill "${sim:-}" "${server:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

YEALINK_PROV_ADMIN_PASSWORD=bench-admin YEALINK_PROV_INNOVAPHONE__PASSWORD=bench-instance \
  YEALINK_PROV_SECRET_KEY_FILE="$work/secret.key" \
  RUST_LOG=warn "$BIN/yealink-prov" --database-url "$url" serve --listen "127.0.0.1:$port" \
  --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

args=()
for i in $(seq 1 "$N"); do
  args+=(--add-phone "$(printf '00:15:65:%02x:%02x:%02x' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))")
done
"$BIN/yealink-sim" innovaphone --app-url "http://127.0.0.1:$port/innovaphone-yealink" \
  --password bench-instance "${args[@]}" >"$work/sim.out" 2>&1 &
sim=$!
added() { local n; n=$(grep -c '^add phone' "$work/sim.out" 2>/dev/null) || true; echo "${n:-0}"; }
while [ "$(added)" -lt "$N" ]; do
  kill -0 "$sim" 2>/dev/null || { cat "$work/sim.out"; exit 1; }
  sleep 0.2
done
ok=$(grep -c '^add phone .*: ok' "$work/sim.out" || true)
# Let the rollout's own writes (request log, RPS outbox) settle before measuring rest.
sleep 15
sample() {
  psql -At "$admin_url" -c "SELECT tup_inserted + tup_updated + tup_deleted, xact_commit
    FROM pg_stat_database WHERE datname = '$db'"
}
a=$(sample); sleep "$WINDOW"; b=$(sample)
python3 - "$N" "$ok" "$WINDOW" "$a" "$b" "$BIN" <<'PY'
import sys
n, ok, window = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
(r0, c0), (r1, c1) = (map(int, s.split("|")) for s in sys.argv[4:6])
print(f"{sys.argv[6]}: {n} phones, {ok} provisioned ok, at rest for {window:.0f} s:")
print(f"  rows written {(r1 - r0) / window:.1f}/s, commits {(c1 - c0) / window:.1f}/s "
      "(commits include read-only statements)")
PY
