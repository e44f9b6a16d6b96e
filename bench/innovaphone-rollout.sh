#!/usr/bin/env bash
# Bulk rollout through the innovaphone path, as Users Admin does it: N phones, one
# ProvisioningPhone after the other (each answered once Devices sent the configuration), every
# phone then keeping its sysclient connection open. Reports the time per phone and the server's
# memory before and after (the open connections are what costs memory).
#
#   bench/innovaphone-rollout.sh [N] [debug|release]
#
# Loopback only: the simulated PBX, Users and Devices run in one `yealink-sim innovaphone`.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}
PROFILE=${2:-debug}
if [ "$PROFILE" = release ]; then
  cargo build -q --release -p yealink-prov -p prov-sim --bins
else
  cargo build -q -p yealink-prov -p prov-sim --bins
fi
BIN=target/$PROFILE
work=$(mktemp -d /tmp/yp-rollout.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { kill "${sim:-}" "${server:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

YEALINK_PROV_ADMIN_PASSWORD=bench-admin YEALINK_PROV_INNOVAPHONE__PASSWORD=bench-instance \
  RUST_LOG=warn "$BIN/yealink-prov" serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
  >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
rss_before=$(kib "$server" VmRSS)

args=()
for i in $(seq 1 "$N"); do
  args+=(--add-phone "$(printf '00:15:65:%02x:%02x:%02x' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))")
done
start=$(date +%s.%N)
"$BIN/yealink-sim" innovaphone --app-url "http://127.0.0.1:$port/innovaphone-yealink" \
  --password bench-instance "${args[@]}" >"$work/sim.out" 2>&1 &
sim=$!
while [ "$(grep -c '^add phone' "$work/sim.out" || true)" -lt "$N" ]; do
  kill -0 "$sim" 2>/dev/null || { cat "$work/sim.out"; exit 1; }
  sleep 0.2
done
end=$(date +%s.%N)
sleep 2
rss_after=$(kib "$server" VmRSS)
hwm=$(kib "$server" VmHWM)
ok=$(grep -c '^add phone .*: ok' "$work/sim.out" || true)
connected=$(curl -fs -H "Authorization: Bearer bench-admin" \
  "http://127.0.0.1:$port/api/v1/devices/$(printf '001565%06x' "$N")" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["innovaphone"]["sysclient"]["status"])')

python3 - "$N" "$ok" "$start" "$end" "$rss_before" "$rss_after" "$hwm" "$connected" "$PROFILE" <<'PY'
import sys
n, ok = int(sys.argv[1]), int(sys.argv[2])
start, end = float(sys.argv[3]), float(sys.argv[4])
before, after, hwm = (int(x) for x in sys.argv[5:8])
print(f"profile {sys.argv[9]}, {n} phones, {ok} answered ok, last phone's sysclient: {sys.argv[8]}")
print(f"rollout: {end - start:.1f} s, {1000 * (end - start) / n:.1f} ms per phone")
print(f"server RSS: {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after "
      f"({(after - before) / n:.1f} KiB per phone), peak {hwm / 1024:.1f} MiB")
PY
