#!/usr/bin/env bash
# Load check: the attacks of docs/security.md against the release binary on loopback,
# with the server's peak memory, open descriptors, and whether /healthz and a real phone's fetch
# still answered within 1 s. A benchmark, not a test: nothing here fails a build.
#
#   bench/load-check.sh [--port 18437] [--duration 15] [--duration-long 40] [--sockets 19000]
#                       [--settle 3] [--bin PATH] [--no-build] [--keep-work] [--out bench-out]
#                       [ATTACK ...]
#
# --settle: seconds after each attack before its "after" RSS is read; --bin: the server binary
# to run (implies --no-build), e.g. another build for a side-by-side comparison.
#
# ATTACK: baseline bearer signin signin-many idle idle-many slowloris appws-keepalive appws-unread
# phone-denied import h2-preface slow-body unfinished-body big-frame (default: all, in that
# order). The driver is bench/load_check.py.
set -euo pipefail
umask 077
export RUST_LOG=warn

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OURS="$TARGET_DIR/release/yealink-prov"

PORT=18437
DURATION=15
DURATION_LONG=40
SOCKETS=19000
SETTLE=3
BUILD=1
KEEP_WORK=0
OUT_DIR="$ROOT/bench-out"
ATTACKS=()
ADMIN_PASSWORD="load-admin-$$-$RANDOM$RANDOM"
# The App object's password (at most 23 ASCII characters): turns the AppWebsocket endpoint on.
INSTANCE_PASSWORD="load$RANDOM$RANDOM"

WORK=""
SERVER_PID=""

log() { printf '[load-check %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
    case "$1" in
        --port) PORT="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --duration-long) DURATION_LONG="$2"; shift 2 ;;
        --sockets) SOCKETS="$2"; shift 2 ;;
        --settle) SETTLE="$2"; shift 2 ;;
        --bin) OURS="$2"; BUILD=0; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep-work) KEEP_WORK=1; shift ;;
        --out) OUT_DIR="$2"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) ATTACKS+=("$1"); shift ;;
    esac
done
for n in "$PORT" "$SOCKETS"; do
    [[ "$n" =~ ^[0-9]+$ ]] || die "not a number: $n"
done

# Stops the server this script started (TERM, then KILL after 10 s), removes the work dir.
cleanup() {
    local status=$? i
    if [[ -n "$SERVER_PID" ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if ((KEEP_WORK)); then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
    fi
    exit "$status"
}
trap cleanup EXIT INT TERM

if ((BUILD)); then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release -p yealink-prov)
fi
[[ -x "$OURS" ]] || die "missing $OURS (build it or drop --no-build)"
command -v python3 >/dev/null || die "python3 is needed for the attack driver"
if ss -Htln "sport = :$PORT" | grep -q .; then die "port $PORT is in use (--port)"; fi

WORK="$(mktemp -d -t load-check.XXXXXX)"
mkdir -p "$OUT_DIR"
BASE="http://127.0.0.1:$PORT"

# The server keeps the open-file limit it is started with; only the attacker raises its own.
# The reserve is kept for the monitoring address only (the attacker also speaks from 127.0.0.1).
log "starting yealink-prov on $BASE (open-file limit $(ulimit -Sn))"
YEALINK_PROV_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    YEALINK_PROV_INNOVAPHONE__PASSWORD="$INSTANCE_PASSWORD" \
    YEALINK_PROV_LIMITS__RESERVE_SOURCES='["127.0.0.3"]' \
    "$OURS" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for ((i = 0; i < 300; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$WORK/server.log" >&2; die "server exited"; }
    curl -fsS -o /dev/null --max-time 1 "$BASE/healthz" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null --max-time 1 "$BASE/healthz" || die "server did not answer /healthz"

api() { curl -fsS --max-time 30 -H "Authorization: Bearer $ADMIN_PASSWORD" "$@"; }

log "enrolling 5 devices"
for n in 1 2 3 4 5; do
    api -H 'content-type: application/json' -o /dev/null -X POST "$BASE/api/v1/devices" \
        -d "{\"mac\":\"805ec0aaff0$n\",\"sip_user\":\"90$n\",\"sip_password\":\"sip-secret-$n\",\"registrar\":\"pbx.example.test\",\"display_name\":\"Phone 90$n\"}"
done
# The first phone's token URL (a secret of this throwaway data dir only).
PHONE_URL="$(api "$BASE/api/v1/devices/805ec0aaff01?reveal=true" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["provisioning_url"])')"
PHONE_PATH="/${PHONE_URL#http*://*/}"
PHONE_PATH="${PHONE_PATH%/}/805ec0aaff01.cfg"
curl -fsS -o /dev/null --max-time 1 "$BASE$PHONE_PATH" || die "the enrolled phone's fetch failed"

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
log "attacks: ${ATTACKS[*]:-all}; results in $OUT_DIR/load-check-$STAMP.{md,json}"
(
    # The attacker's own descriptors: as many as the hard limit allows.
    ulimit -n "$(ulimit -Hn)"
    YEALINK_PROV_ADMIN_PASSWORD="$ADMIN_PASSWORD" python3 "$ROOT/bench/load_check.py" \
        --pid "$SERVER_PID" --port "$PORT" --phone-path "$PHONE_PATH" \
        --duration "$DURATION" --duration-long "$DURATION_LONG" --sockets "$SOCKETS" --settle "$SETTLE" \
        --json-out "$OUT_DIR/load-check-$STAMP.json" "${ATTACKS[@]}"
) | tee "$OUT_DIR/load-check-$STAMP.md"
kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$WORK/server.log" >&2; die "the server died"; }
log "server log warnings: $(grep -c -i 'warn\|error' "$WORK/server.log" || true) lines (kept with --keep-work)"
