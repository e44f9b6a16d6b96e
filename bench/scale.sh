#!/usr/bin/env bash
# Cost per phone at scale (issue 12): N simulated innovaphone phones rolled out through the
# simulated PBX/Users/Devices (as bench/innovaphone-rollout.sh does), each keeping its sysclient
# connection to Devices open, against one release-built instance on SQLite. Reports the
# server's resident memory (VmRSS, VmHWM from /proc) before and after, and per connected phone.
# A benchmark, not a timed test: it runs for minutes at 10,000 phones.
#
#   bench/scale.sh [--phones "1000 10000"] [--debug] [--no-build] [--bin-dir DIR] [--keep-work] [--out FILE]
#
# --debug measures the debug build instead (quicker to build; its figures are higher).
# --bin-dir DIR takes yealink-prov and yealink-sim from DIR (implies --no-build), e.g. a copy of
# an older build for a before/after comparison.
#
# Loopback only. Each N gets a fresh server and a fresh `yealink-sim innovaphone`. Needs curl,
# ss and python3; raises `ulimit -n` to the hard limit (each phone is one descriptor in the
# server and one in the simulator).
set -euo pipefail
cd "$(dirname "$0")/.."

PHONES="1000 10000"
BUILD=1
PROFILE=release
KEEP=0
OUT=""
BIN=""
while (($#)); do
  case $1 in
    --phones) PHONES=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --debug) PROFILE=debug; shift ;;
    --bin-dir) BIN=$2; BUILD=0; shift 2 ;;
    --keep-work) KEEP=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
for n in $PHONES; do
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 65000)) || { echo "--phones: $n is not 1..65000" >&2; exit 2; }
done

ulimit -n "$(ulimit -Hn)"
if ((BUILD)); then
  if [ "$PROFILE" = release ]; then
    cargo build -q --release -p yealink-prov -p prov-sim --bins
  else
    cargo build -q -p yealink-prov -p prov-sim --bins
  fi
fi
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/$PROFILE}
work=$(mktemp -d /tmp/yp-scale.XXXXXX)
server="" sim=""
cleanup() {
  [ -n "$sim" ] && kill "$sim" 2>/dev/null
  [ -n "$server" ] && kill "$server" 2>/dev/null
  wait 2>/dev/null || true
  ((KEEP)) && echo "work directory kept: $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

results=()
for n in $PHONES; do
  dir=$work/n$n
  mkdir -p "$dir"
  port=$(free_port)
  log "N=$n: starting yealink-prov on 127.0.0.1:$port"
  YEALINK_PROV_ADMIN_PASSWORD=bench-admin YEALINK_PROV_INNOVAPHONE__PASSWORD=bench-instance \
    RUST_LOG=warn "$BIN/yealink-prov" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" \
    >"$dir/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  sleep 1
  rss_before=$(kib "$server" VmRSS)

  args=()
  for i in $(seq 1 "$n"); do
    args+=(--add-phone "$(printf '00:15:65:%02x:%02x:%02x' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))")
  done
  start=$(date +%s.%N)
  "$BIN/yealink-sim" innovaphone --app-url "http://127.0.0.1:$port/innovaphone-yealink" \
    --password bench-instance "${args[@]}" >"$dir/sim.out" 2>&1 &
  sim=$!
  last=0
  while :; do
    done_count=$(grep -c "^add phone" "$dir/sim.out" 2>/dev/null || true)
    ((done_count >= n)) && break
    kill -0 "$sim" 2>/dev/null || { cat "$dir/sim.out" >&2; exit 1; }
    if ((done_count / 1000 > last)); then last=$((done_count / 1000)); log "N=$n: $done_count phones added"; fi
    sleep 0.5
  done
  end=$(date +%s.%N)
  ok=$(grep -c '^add phone .*: ok' "$dir/sim.out" || true)
  dev_port=$(sed -nE 's#^sysclients: +ws://127\.0\.0\.1:([0-9]+)/.*#\1#p' "$dir/sim.out")
  # Settle: the last configurations are stored, timers armed; then count the open sysclient
  # connections from the server's side (destination port = the simulated Devices).
  sleep 5
  connected=$(ss -Htn state established "( dport = :$dev_port )" | wc -l)
  rss_after=$(kib "$server" VmRSS)
  hwm=$(kib "$server" VmHWM)
  last_status=$(curl -fs -H "Authorization: Bearer bench-admin" \
    "http://127.0.0.1:$port/api/v1/devices/$(printf '001565%06x' "$n")" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["innovaphone"]["sysclient"]["status"])')
  log "N=$n: $ok ok, $connected sysclients connected, RSS $rss_before -> $rss_after KiB"
  results+=("$n $ok $connected $start $end $rss_before $rss_after $hwm $last_status")
  kill "$sim" "$server" 2>/dev/null || true
  wait "$sim" "$server" 2>/dev/null || true
  sim="" server=""
done

if ((BUILD)); then
  label="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (with uncommitted changes)')"
else
  label="binaries in $BIN (not rebuilt; HEAD is $(git rev-parse --short HEAD))"
fi
report=$(python3 - "$PROFILE" "$label" "${results[@]}" <<'PY'
import sys
profile, commit, rows = sys.argv[1], sys.argv[2], sys.argv[3:]
flag = " --debug" if profile == "debug" else ""
print(f"- command: `bench/scale.sh --phones \"{' '.join(r.split()[0] for r in rows)}\"{flag}` ({profile} build, one instance, SQLite)")
print(f"- build: {commit}")
print()
print("| phones | answered ok | sysclients connected | rollout per phone | RSS before | RSS after | peak (VmHWM) | per connected phone |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for row in rows:
    n, ok, conn, start, end, before, after, hwm, status = row.split()
    n, ok, conn = int(n), int(ok), int(conn)
    before, after, hwm = int(before), int(after), int(hwm)
    per = (after - before) / max(conn, 1)
    ms = 1000 * (float(end) - float(start)) / n
    print(f"| {n:,} | {ok:,} | {conn:,} | {ms:.1f} ms | {before / 1024:.1f} MiB | {after / 1024:.1f} MiB "
          f"| {hwm / 1024:.1f} MiB | {per:.1f} KiB |")
PY
)
echo "$report"
[ -n "$OUT" ] && echo "$report" >"$OUT"
exit 0
