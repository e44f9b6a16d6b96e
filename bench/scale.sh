#!/usr/bin/env bash
# Cost per phone at scale. A benchmark, not a timed test: it runs for minutes.
#
#   bench/scale.sh [--phones "1000 10000"] [--instances "1 3"] [--rest 60] [--storm]
#                  [--storm-phones 10000] [--storm-rounds 1] [--duration 10] [--devices-tls]
#                  [--debug] [--no-build] [--bin-dir DIR] [--keep-work] [--out FILE]
#
# --instances takes a list of instance counts; each N is measured with each, in order.
#
# --instances 1 (the default): N simulated innovaphone phones rolled out through the simulated
# PBX/Users/Devices (as bench/innovaphone-rollout.sh does), each keeping its sysclient
# connection to Devices open, against one instance on SQLite. Reports the server's resident
# memory (VmRSS, VmHWM from /proc) before, 5 s after the last phone, and again after --rest
# seconds at rest (the allocator returns the rollout's freed pages over seconds), and per
# connected phone.
#
# --instances K (2..5): the same N phones spread over K instances on one throwaway PostgreSQL
# (started on loopback as crates/store/tests/start-postgres.sh does, stopped on exit). One PBX,
# connected to instance 1; Users sends the phones' ProvisioningPhone to the instances in turn
# (the issue's "each PBX connects to one instance; the Users request may arrive at another"),
# and the instance that took a phone's provisioning holds its sysclient. Per instance: connected
# sysclients (ss), RSS, per phone; database writes per second at rest over --rest seconds
# (pg_stat_database, as bench/instance-writes.sh); then instance 2 (not the PBX's) is killed
# with SIGKILL and the time until the survivors hold all its phones again is measured.
#
# --storm: also the boot storm (wrk and bench/wrk-boot-storm.lua, the functions of
# bench/boot-storm.sh) against (a) one instance on SQLite, (b) K instances (the largest of
# --instances, 3 when that is 1) on PostgreSQL behind nginx as the load balancer, (c) nginx serving the same bytes; the
# same --storm-phones devices (boot-storm.sh's gen_csv) imported into both stores.
# --phones '' runs the storm alone.
#
# --devices-tls: the simulated Devices serves wss:// (as a real App Platform does) with a
# throwaway certificate from `yealink-sim tls-cert`, whose CA the server is told to trust
# (innovaphone.devices_ca_file); without it, plain ws://.
#
# --debug measures the debug build instead (quicker to build; its figures are higher).
# --bin-dir DIR takes yealink-prov and yealink-sim from DIR (implies --no-build), e.g. a copy of
# an older build for a before/after comparison.
#
# Loopback only, every wait bounded, every process it starts stopped on exit. Needs curl, ss,
# python3; with several instances psql and PostgreSQL's binaries; with --storm wrk, nginx, jq.
# Raises `ulimit -n` to the hard limit (each phone is one descriptor in the server and one in
# the simulator).
set -euo pipefail
cd "$(dirname "$0")/.."
# The storm's helpers (gen_csv, prepare_data, start_server, start_nginx, storm, wrk_round,
# cpu_total, ...); sourcing runs nothing. Their defaults are overridden below.
# shellcheck source=bench/boot-storm.sh
source bench/boot-storm.sh
set -euo pipefail

PHONES="1000 10000"
INSTANCES=1
REST=60
STORM=0
STORM_PHONES=10000
STORM_ROUNDS=1
BUILD=1
PROFILE=release
KEEP=0
OUT=""
BIN=""
# PIDs of the spread's instances (index 1..K) and the PostgreSQL cluster's directory.
declare -a INST_PID INST_PORT
PG_DIR="" PG_URL=""
# Extra environment for the instances on PostgreSQL (the storm's raise the per-source cap).
PG_INSTANCE_ENV=()
# --devices-tls: the sim's and the server's extra arguments/environment.
DEVICES_TLS=0
SIM_TLS_ARGS=()
SERVER_TLS_ENV=()

parse() {
  while (($#)); do
    case $1 in
      --phones) PHONES=$2; shift 2 ;;
      --instances) INSTANCES=$2; shift 2 ;;
      --rest) REST=$2; shift 2 ;;
      --storm) STORM=1; shift ;;
      --devices-tls) DEVICES_TLS=1; shift ;;
      --storm-phones) STORM_PHONES=$2; shift 2 ;;
      --storm-rounds) STORM_ROUNDS=$2; shift 2 ;;
      --duration) WRK_SECONDS=$2; shift 2 ;;
      --no-build) BUILD=0; shift ;;
      --debug) PROFILE=debug; shift ;;
      --bin-dir) BIN=$2; BUILD=0; shift 2 ;;
      --keep-work) KEEP=1; shift ;;
      --out) OUT=$2; shift 2 ;;
      *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
  done
  local n
  for n in $PHONES; do
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 65000)) || { echo "--phones: $n is not 1..65000" >&2; exit 2; }
  done
  MAX_INSTANCES=1
  for n in $INSTANCES; do
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 5)) || { echo "--instances: $n is not 1..5" >&2; exit 2; }
    ((n > MAX_INSTANCES)) && MAX_INSTANCES=$n
  done
  [[ $REST =~ ^[0-9]+$ ]] && ((REST >= 5 && REST <= 600)) || { echo "--rest: 5..600 seconds" >&2; exit 2; }
  [[ $STORM_PHONES =~ ^[0-9]+$ ]] && ((STORM_PHONES >= 1 && STORM_PHONES <= 100000)) \
    || { echo "--storm-phones: 1..100000" >&2; exit 2; }
  [[ $STORM_ROUNDS =~ ^[0-9]+$ ]] && ((STORM_ROUNDS >= 1 && STORM_ROUNDS <= 5)) || { echo "--storm-rounds: 1..5" >&2; exit 2; }
  [[ $WRK_SECONDS =~ ^[0-9]+$ ]] && ((WRK_SECONDS >= 1 && WRK_SECONDS <= 120)) || { echo "--duration: 1..120" >&2; exit 2; }
  [[ -n $PHONES ]] || ((STORM)) || { echo "--phones '' without --storm measures nothing" >&2; exit 2; }
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# Stops every process started (boot-storm.sh's STARTED_PIDS), then PostgreSQL, then the work dir.
cleanup_all() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${STARTED_PIDS[@]}"; do
    timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
  pg_stop
  if ((KEEP)); then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}

# Starts a process in the background and registers it for cleanup; its PID in $LAST_PID.
spawn() {
  local out=$1
  shift
  "$@" >"$out" 2>&1 &
  LAST_PID=$!
  STARTED_PIDS+=("$LAST_PID")
}

# ---- PostgreSQL (throwaway, loopback, trust on 127.0.0.1 only) ----

pg_start() {
  local port
  port=$(free_port)
  # Its own directory outside $work: as root, initdb runs as the postgres user, which must
  # own it (start-postgres.sh chowns it).
  PG_DIR=$(mktemp -d /tmp/yp-scale-pg.XXXXXX)
  PG_URL=$(crates/store/tests/start-postgres.sh "$port" "$PG_DIR" 2>"$work/pg-start.log") \
    || { cat "$work/pg-start.log" >&2; exit 1; }
  log "PostgreSQL on 127.0.0.1:$port ($PG_DIR)"
}

pg_stop() {
  [[ -n $PG_DIR && -f $PG_DIR/data/PG_VERSION ]] || return 0
  local ctl
  ctl=$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl | sort -Vr | head -n 1)
  if ((EUID == 0)); then
    runuser -u postgres -- "$ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  else
    "$ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DIR"
  PG_DIR=""
}

# pg_db NAME: a fresh database; prints its URL.
pg_db() {
  psql -q "$PG_URL" -c "CREATE DATABASE $1" >/dev/null
  echo "${PG_URL%/*}/$1"
}

# pg_counters DB: rows inserted + updated + deleted, and commits, as "rows commits".
pg_counters() {
  psql -At -F' ' "$PG_URL" -c "SELECT tup_inserted + tup_updated + tup_deleted, xact_commit
    FROM pg_stat_database WHERE datname = '$1'"
}

# ---- instances ----

wait_healthz() {
  local port=$1 pid=$2 out=$3 i
  for ((i = 0; i < 600; i++)); do
    curl -fs --max-time 1 "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$out" >&2; echo "instance on $port exited" >&2; exit 1; }
    sleep 0.1
  done
  tail -n 20 "$out" >&2
  echo "instance on $port did not answer /healthz within 60 s" >&2
  exit 1
}

# start_pg_instances K DB_URL DIR: K `serve` processes on one database (same key file).
start_pg_instances() {
  local k=$1 url=$2 dir=$3 i
  mkdir -p "$dir"
  [[ -f $work/secret.key ]] || (umask 077 && head -c 32 /dev/urandom | base64 >"$work/secret.key")
  for ((i = 1; i <= k; i++)); do
    INST_PORT[i]=$(free_port)
    spawn "$dir/server$i.log" env YEALINK_PROV_ADMIN_PASSWORD=bench-admin \
      YEALINK_PROV_INNOVAPHONE__PASSWORD=bench-instance \
      YEALINK_PROV_SECRET_KEY_FILE="$work/secret.key" RUST_LOG=warn "${PG_INSTANCE_ENV[@]}" "${SERVER_TLS_ENV[@]}" \
      "$BIN/yealink-prov" --database-url "$url" serve --listen "127.0.0.1:${INST_PORT[i]}" \
      --data-dir "$dir/data$i"
    INST_PID[i]=$LAST_PID
  done
  for ((i = 1; i <= k; i++)); do wait_healthz "${INST_PORT[i]}" "${INST_PID[i]}" "$dir/server$i.log"; done
}

mac_args() {
  local n=$1 i
  MAC_ARGS=()
  for ((i = 1; i <= n; i++)); do
    MAC_ARGS+=(--add-phone "$(printf '00:15:65:%02x:%02x:%02x' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))")
  done
}

# wait_added N SIM_PID OUT [LABEL]: until the simulator printed N "add phone" lines.
wait_added() {
  local n=$1 sim=$2 out=$3 label=${4:-} count last=0
  while :; do
    count=$(grep -c "^add phone" "$out" 2>/dev/null || true)
    ((count >= n)) && return 0
    kill -0 "$sim" 2>/dev/null || { cat "$out" >&2; exit 1; }
    if ((count / 1000 > last)); then last=$((count / 1000)); log "$label$count phones added"; fi
    sleep 0.5
  done
}

devices_port() { sed -nE 's#^sysclients: +wss?://127\.0\.0\.1:([0-9]+)/.*#\1#p' "$1"; }

# sysclients_of PID DEV_PORT: established connections from PID to the simulated Devices.
sysclients_of() {
  ss -Htnp state established "( dport = :$2 )" | grep -c "pid=$1," || true
}

# ---- one instance on SQLite (the original measurement) ----

one_instance() {
  local n=$1 dir=$work/n$n port server sim rss_before start end ok dev_port connected rss_after rss_rest hwm last_status
  mkdir -p "$dir"
  port=$(free_port)
  log "N=$n: starting yealink-prov on 127.0.0.1:$port"
  spawn "$dir/server.log" env YEALINK_PROV_ADMIN_PASSWORD=bench-admin \
    YEALINK_PROV_INNOVAPHONE__PASSWORD=bench-instance RUST_LOG=warn "${SERVER_TLS_ENV[@]}" \
    "$BIN/yealink-prov" serve --listen "127.0.0.1:$port" --data-dir "$dir/data"
  server=$LAST_PID
  wait_healthz "$port" "$server" "$dir/server.log"
  sleep 1
  rss_before=$(kib "$server" VmRSS)

  mac_args "$n"
  start=$(date +%s.%N)
  spawn "$dir/sim.out" "$BIN/yealink-sim" innovaphone "${SIM_TLS_ARGS[@]}" \
    --app-url "http://127.0.0.1:$port/innovaphone-yealink" --password bench-instance "${MAC_ARGS[@]}"
  sim=$LAST_PID
  wait_added "$n" "$sim" "$dir/sim.out" "N=$n: "
  end=$(date +%s.%N)
  ok=$(grep -c '^add phone .*: ok' "$dir/sim.out" || true)
  dev_port=$(devices_port "$dir/sim.out")
  # Settle: the last configurations are stored, timers armed; then count the open sysclient
  # connections from the server's side (destination port = the simulated Devices).
  sleep 5
  connected=$(ss -Htn state established "( dport = :$dev_port )" | wc -l)
  rss_after=$(kib "$server" VmRSS)
  log "N=$n: $REST s at rest"
  sleep "$REST"
  rss_rest=$(kib "$server" VmRSS)
  hwm=$(kib "$server" VmHWM)
  last_status=$(curl -fs -H "Authorization: Bearer bench-admin" \
    "http://127.0.0.1:$port/api/v1/devices/$(printf '001565%06x' "$n")" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["innovaphone"]["sysclient"]["status"])')
  log "N=$n: $ok ok, $connected sysclients connected, RSS $rss_before -> $rss_after KiB, $rss_rest at rest"
  results+=("$n $ok $connected $start $end $rss_before $rss_after $rss_rest $hwm $last_status")
  stop_pid "$sim"
  stop_pid "$server"
}

one_instance_report() {
  python3 - "$PROFILE" "$label" "$DEVICES_TLS" "$REST" "${results[@]}" <<'PY'
import sys
profile, commit, tls, rest, rows = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4], sys.argv[5:]
flag = (" --debug" if profile == "debug" else "") + (" --devices-tls" if tls else "")
transport = "wss:// to Devices (TLS)" if tls else "ws:// to Devices"
print(f"- command: `bench/scale.sh --phones \"{' '.join(r.split()[0] for r in rows)}\"{flag}` ({profile} build, one instance, SQLite, {transport})")
print(f"- build: {commit}")
print()
print(f"| phones | answered ok | sysclients connected | rollout per phone | RSS before | RSS 5 s after | per phone | RSS {rest} s later | per phone | peak (VmHWM) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for row in rows:
    n, ok, conn, start, end, before, after, rested, hwm, status = row.split()
    n, ok, conn = int(n), int(ok), int(conn)
    before, after, rested, hwm = int(before), int(after), int(rested), int(hwm)
    per = (after - before) / max(conn, 1)
    per_rested = (rested - before) / max(conn, 1)
    ms = 1000 * (float(end) - float(start)) / n
    print(f"| {n:,} | {ok:,} | {conn:,} | {ms:.1f} ms | {before / 1024:.1f} MiB | {after / 1024:.1f} MiB "
          f"| {per:.1f} KiB | {rested / 1024:.1f} MiB | {per_rested:.1f} KiB | {hwm / 1024:.1f} MiB |")
PY
}

# ---- N phones spread over K instances on PostgreSQL ----

# spread N K: appends its markdown section to $work/spread.md.
spread() {
  local n=$1 k=$2 dir db url i sim users=() before=() start end ok dev_port
  dir=$work/spread$n-$k
  db="scale_n${n}_k$k"
  url=$(pg_db "$db")
  log "N=$n over $k instances: starting them on PostgreSQL"
  start_pg_instances "$k" "$url" "$dir"
  sleep 1
  for ((i = 1; i <= k; i++)); do
    before[i]=$(kib "${INST_PID[i]}" VmRSS)
    users+=(--users-app-url "http://127.0.0.1:${INST_PORT[i]}/innovaphone-yealink")
  done
  mac_args "$n"
  start=$(date +%s.%N)
  spawn "$dir/sim.out" "$BIN/yealink-sim" innovaphone "${SIM_TLS_ARGS[@]}" \
    --app-url "http://127.0.0.1:${INST_PORT[1]}/innovaphone-yealink" --password bench-instance \
    "${users[@]}" "${MAC_ARGS[@]}"
  sim=$LAST_PID
  wait_added "$n" "$sim" "$dir/sim.out" "N=$n over $k: "
  end=$(date +%s.%N)
  ok=$(grep -c '^add phone .*: ok' "$dir/sim.out" || true)
  dev_port=$(devices_port "$dir/sim.out")
  # Let the rollout's own writes (request log, RPS outbox, PBX-side updates) settle.
  sleep 15
  local rows=() conn rss hwm total=0
  for ((i = 1; i <= k; i++)); do
    conn=$(sysclients_of "${INST_PID[i]}" "$dev_port")
    rss=$(kib "${INST_PID[i]}" VmRSS)
    hwm=$(kib "${INST_PID[i]}" VmHWM)
    total=$((total + conn))
    rows+=("$i $conn ${before[i]} $rss $hwm")
  done
  log "N=$n over $k: $ok ok, $total sysclients connected; $REST s at rest"
  local c0 c1 load
  load=$(loadavg)
  c0=$(pg_counters "$db")
  sleep "$REST"
  c1=$(pg_counters "$db")
  local victim=2 held_by_victim took
  held_by_victim=$(sysclients_of "${INST_PID[victim]}" "$dev_port")
  takeover "$victim" "$k" "$dev_port" "$total"
  took=$TOOK
  log "N=$n over $k: instance $victim ($held_by_victim phones) killed, survivors hold all after $took s"
  local after_kill=() at_takeover=()
  for ((i = 1; i <= k; i++)); do
    ((i == victim)) && continue
    at_takeover[i]=$(kib "${INST_PID[i]}" VmRSS)
  done
  # As after the rollout: RSS once the takeover's own writes have settled, too.
  sleep 15
  for ((i = 1; i <= k; i++)); do
    ((i == victim)) && continue
    after_kill+=("$i $(sysclients_of "${INST_PID[i]}" "$dev_port") ${at_takeover[i]} $(kib "${INST_PID[i]}" VmRSS)")
  done
  spread_report "$n" "$k" "$ok" "$start" "$end" "$REST" "$c0" "$c1" "$load" "$held_by_victim" "$took" \
    "${rows[@]}" -- "${after_kill[@]}" >>"$work/spread.md"
  stop_pid "$sim"
  for ((i = 1; i <= k; i++)); do stop_pid "${INST_PID[i]}"; done
}

# takeover VICTIM K DEV_PORT TOTAL: SIGKILLs instance VICTIM of K; sets TOOK to the seconds until the
# survivors hold TOTAL sysclient connections again (bounded: 120 s, then "> 120 ...").
takeover() {
  local victim=$1 k=$2 dev_port=$3 total=$4 t0 now held i
  kill -KILL "${INST_PID[victim]}"
  t0=$(date +%s.%N)
  wait "${INST_PID[victim]}" 2>/dev/null || true
  while :; do
    held=0
    for ((i = 1; i <= k; i++)); do
      ((i == victim)) && continue
      held=$((held + $(sysclients_of "${INST_PID[i]}" "$dev_port")))
    done
    now=$(date +%s.%N)
    if ((held >= total)); then
      TOOK=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
      return 0
    fi
    if awk -v a="$t0" -v b="$now" 'BEGIN { exit !(b - a > 120) }'; then
      TOOK="> 120 (survivors hold $held of $total)"
      return 0
    fi
    sleep 0.5
  done
}

spread_report() {
  python3 - "$@" <<'PY'
import sys
a = sys.argv[1:]
n, k, ok = int(a[0]), int(a[1]), int(a[2])
start, end, rest = float(a[3]), float(a[4]), float(a[5])
(r0, c0), (r1, c1) = (map(int, s.split()) for s in a[6:8])
load, victim_held, took = a[8], a[9], a[10]
sep = a.index("--")
rows, after = a[11:sep], a[sep + 1:]
print(f"#### {n:,} phones over {k} instances (PostgreSQL)")
print()
print(f"- {ok:,} of {n:,} answered ok; rollout {1000 * (end - start) / n:.1f} ms per phone "
      f"(one PBX on instance 1, Users to the {k} instances in turn)")
print(f"- load average when the rest window began: {load}")
print()
print("| instance | sysclients connected | RSS before | RSS after | peak (VmHWM) | per connected phone |")
print("|---:|---:|---:|---:|---:|---:|")
total = 0
for r in rows:
    i, conn, before, rss, hwm = (int(x) for x in r.split())
    total += conn
    per = (rss - before) / max(conn, 1)
    print(f"| {i} | {conn:,} | {before / 1024:.1f} MiB | {rss / 1024:.1f} MiB | {hwm / 1024:.1f} MiB | {per:.1f} KiB |")
print(f"| all | {total:,} | | | | |")
print()
if total != n or ok != n:
    print(f"- **WARNING: {ok:,} of {n:,} answered ok, {total:,} connected**: the figures are not for N phones")
print(f"- database at rest over {rest:.0f} s (all instances, pg_stat_database): "
      f"rows written {(r1 - r0) / rest:.1f}/s, commits {(c1 - c0) / rest:.1f}/s (commits include reads)")
print(f"- SIGKILL of instance 2 holding {int(victim_held):,} phones: survivors hold all "
      f"{total:,} again after **{took} s**; then " +
      ", ".join(f"instance {r.split()[0]} holds {int(r.split()[1]):,} (RSS {int(r.split()[2]) / 1024:.1f} MiB "
                f"at once, {int(r.split()[3]) / 1024:.1f} MiB 15 s later)" for r in after))
print()
PY
}

# ---- the boot storm: one instance on SQLite, K on PostgreSQL behind nginx, nginx static ----

# write_lb_conf DIR PORT BACKEND_PORTS...: nginx as the load balancer (round robin, keep-alive
# to the instances), configured like boot-storm.sh's static nginx.
write_lb_conf() {
  local dir=$1 port=$2 p
  shift 2
  mkdir -p "$dir/tmp"
  {
    echo "# Generated by bench/scale.sh: nginx as the load balancer in front of the instances."
    echo "worker_processes auto; daemon off; pid $dir/nginx.pid; error_log $dir/error.log warn;"
    echo "events { worker_connections 4096; }"
    echo "http {"
    echo "  access_log off; keepalive_timeout 65; keepalive_requests 1000000;"
    echo "  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy;"
    echo "  fastcgi_temp_path $dir/tmp/fastcgi; uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;"
    echo "  upstream instances {"
    for p in "$@"; do echo "    server 127.0.0.1:$p;"; done
    # Idle keep-alive connections kept per worker, so requests do not open new ones.
    echo "    keepalive 128; keepalive_requests 1000000;"
    echo "  }"
    echo "  server {"
    echo "    listen 127.0.0.1:$port;"
    echo "    location / {"
    echo "      proxy_pass http://instances; proxy_http_version 1.1;"
    echo "      proxy_set_header Connection \"\"; proxy_set_header Host \$host;"
    echo "    }"
    echo "  }"
    echo "}"
  } >"$dir/nginx.conf"
}

start_lb() {
  local dir=$1 port=$2
  shift 2
  write_lb_conf "$dir" "$port" "$@"
  "$NGINX_BIN" -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" || { echo "nginx LB config failed" >&2; exit 1; }
  spawn "$dir/stdout.log" "$NGINX_BIN" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
  LB_PID=$LAST_PID
  wait_healthz "$port" "$LB_PID" "$dir/error.log"
}

# storm_sqlite DIR: imports the devices, starts one instance, warm-up storm saving the bytes
# (for nginx) and the request list. Sets SQLITE_PID, SQLITE_PORT.
storm_sqlite() {
  local dir=$1
  SQLITE_PORT=$(free_port)
  prepare_data "$dir/data" "$STORM_PHONES" "$SQLITE_PORT"
  "$OURS" device list --json --reveal --data-dir "$dir/data" >"$dir/phones.json"
  start_server "$dir/data" "$SQLITE_PORT"
  SQLITE_PID=$SERVER_PID
  log "storm: warm-up against one instance on SQLite"
  mkdir -p "$dir/www"
  storm sqlite-warmup "$dir/phones.json" --save-dir "$dir/www" --requests-out "$dir/requests.tsv"
}

# storm_pg DIR: the same devices into a PostgreSQL database, K instances behind the load
# balancer, a warm-up storm through it for the request list (the tokens differ from SQLite's).
storm_pg() {
  local dir=$1 url i ports=()
  url=$(pg_db scale_storm)
  mkdir -p "$dir"
  [[ -f $work/secret.key ]] || (umask 077 && head -c 32 /dev/urandom | base64 >"$work/secret.key")
  gen_csv "$STORM_PHONES" "$dir/devices.csv"
  LB_PORT=$(free_port)
  log "storm: importing $STORM_PHONES devices into PostgreSQL"
  local pg_env=(env YEALINK_PROV_SECRET_KEY_FILE="$work/secret.key" RUST_LOG=warn)
  "${pg_env[@]}" timeout "$STEP_TIMEOUT" "$OURS" --database-url "$url" device import "$dir/devices.csv" \
    --data-dir "$dir/cli" >"$dir/import.log" 2>&1 || { tail -n 20 "$dir/import.log" >&2; exit 1; }
  "${pg_env[@]}" "$OURS" --database-url "$url" settings set "public_base_url=http://127.0.0.1:$LB_PORT" \
    --data-dir "$dir/cli" >/dev/null
  "${pg_env[@]}" "$OURS" --database-url "$url" device list --json --reveal --data-dir "$dir/cli" >"$dir/phones.json"
  local k=$STORM_INSTANCES
  # Behind an HTTP load balancer every connection comes from the balancer's address: raise
  # the per-source cap as docs/deployment.md says, or the instances refuse its connections.
  PG_INSTANCE_ENV=(YEALINK_PROV_LIMITS__MAX_CONNECTIONS_PER_SOURCE=4096)
  start_pg_instances "$k" "$url" "$dir"
  PG_INSTANCE_ENV=()
  for ((i = 1; i <= k; i++)); do ports+=("${INST_PORT[i]}"); STORM_PIDS+=("${INST_PID[i]}"); done
  start_lb "$dir/lb" "$LB_PORT" "${ports[@]}"
  log "storm: warm-up against $k instances on PostgreSQL behind nginx"
  storm pg-warmup "$dir/phones.json" --requests-out "$dir/requests.tsv"
}

# storm_round SIDE R: one wrk round; the server CPU is the sum over the side's processes.
storm_round() {
  local side=$1 r=$2 name="$1-$2" t0 t1 d0 d1 postmaster
  case $side in
    sqlite) WORK=$work/storm/sqlite wrk_round "$name" "http://127.0.0.1:$SQLITE_PORT" "$SQLITE_PID" ;;
    nginx) WORK=$work/storm/sqlite wrk_round "$name" "http://127.0.0.1:$STATIC_PORT" "$NGINX_PID" ;;
    pg)
      # wrk_round counts the load balancer's CPU; the instances' and PostgreSQL's (the
      # postmaster and its backends: work SQLite does inside the one instance) around it.
      postmaster=$(head -n 1 "$PG_DIR/data/postmaster.pid")
      t0=$(cpu_total "${STORM_PIDS[@]}")
      d0=$(cpu_total "$postmaster")
      WORK=$work/storm/pg wrk_round "$name" "http://127.0.0.1:$LB_PORT" "$LB_PID"
      t1=$(cpu_total "${STORM_PIDS[@]}")
      d1=$(cpu_total "$postmaster")
      printf 'backend_ticks %d\ndb_ticks %d\n' $((t1 - t0)) $((d1 - d0)) >>"$RAW/$name.res"
      ;;
  esac
}

storm_table() {
  python3 - "$RAW" "$STORM_ROUNDS" "$STORM_INSTANCES" <<'PY'
import statistics, sys
raw, rounds, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(name):
    kv = {}
    for line in open(f"{raw}/{name}.res"):
        key, value = line.split()
        kv[key] = float(value)
    return kv
labels = {"sqlite": "1 instance, SQLite", "pg": f"{k} instances, PostgreSQL, behind nginx",
          "nginx": "nginx, the same bytes"}
rows = {}
print("| round | server | requests/s | p50 (ms) | p99 (ms) | server CPU per request (µs) | PostgreSQL CPU per request (µs) | load balancer CPU per request (µs) | errors |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for r in range(1, rounds + 1):
    for side in ("sqlite", "pg", "nginx"):
        kv = load(f"{side}-{r}")
        tick = 1e6 / kv["clk_tck"] / kv["requests"]
        server = kv.get("backend_ticks", kv["server_ticks"]) * tick
        lb = kv["server_ticks"] * tick if side == "pg" else None
        db = kv["db_ticks"] * tick if side == "pg" else None
        errors = sum(kv[e] for e in kv if e.startswith("errors_"))
        row = (kv["requests"] / (kv["duration_us"] / 1e6), kv["p50_us"] / 1000, kv["p99_us"] / 1000, server,
               server + (db or 0))
        rows.setdefault(side, []).append(row)
        print(f"| {r} | {labels[side]} | {row[0]:.0f} | {row[1]:.2f} | {row[2]:.2f} | {row[3]:.1f} | "
              f"{'' if db is None else f'{db:.1f}'} | {'' if lb is None else f'{lb:.1f}'} | {errors:.0f} |")
print()
med = {s: sorted(v)[len(v) // 2] for s, v in rows.items()}
n = med["nginx"]
print("| median round by requests/s | requests/s | p50 (ms) | p99 (ms) | server CPU per request (µs) | with PostgreSQL's (µs) | rate / nginx | p99 / nginx | CPU / nginx | with PostgreSQL's / nginx |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for side in ("sqlite", "pg", "nginx"):
    m = med[side]
    print(f"| {labels[side]} | {m[0]:.0f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:.1f} | {m[4]:.1f} | {m[0] / n[0]:.2f} | "
          f"{m[2] / n[2]:.2f} | {m[3] / n[3]:.2f} | {m[4] / n[3]:.2f} |")
PY
}

# storm_compare: appends its markdown section to $work/storm.md.
storm_compare() {
  STORM_INSTANCES=$((MAX_INSTANCES > 1 ? MAX_INSTANCES : 3))
  STORM_PIDS=()
  ensure_nginx
  ensure_wrk
  command -v jq >/dev/null || { echo "jq is required (apt-get install jq)" >&2; exit 1; }
  RAW=$work/storm/raw
  mkdir -p "$RAW"
  # nginx's workers (an unprivileged user) must traverse into the saved bytes.
  chmod 711 "$work" "$work/storm"
  storm_sqlite "$work/storm/sqlite"
  STATIC_PORT=$(free_port)
  start_nginx "$work/storm/nginx" "$work/storm/sqlite/www" "$STATIC_PORT"
  storm_pg "$work/storm/pg"
  local load r side order
  load=$(loadavg)
  for ((r = 1; r <= STORM_ROUNDS; r++)); do
    # Rotate who goes first, so that no side always meets a warmer machine.
    order=(sqlite pg nginx)
    order=("${order[@]:$(((r - 1) % 3))}" "${order[@]:0:$(((r - 1) % 3))}")
    for side in "${order[@]}"; do
      log "storm round $r/$STORM_ROUNDS: $side (wrk, ${WRK_SECONDS} s)"
      storm_round "$side" "$r"
    done
  done
  {
    echo "#### Boot storm: one instance on SQLite, $STORM_INSTANCES on PostgreSQL behind nginx, nginx static"
    echo
    echo "- $STORM_PHONES devices (boot-storm.sh's gen_csv) in each store; wrk $WRK_THREADS threads, $CONCURRENCY connections, ${WRK_SECONDS} s per round, $STORM_ROUNDS round(s), order rotating; load generator, instances, PostgreSQL and nginx on the same machine"
    echo "- load average before the storms: $load (1, 5, 15 min; $(nproc) cores)"
    echo "- server CPU per request: for PostgreSQL the sum over the instances (user + system from /proc); PostgreSQL's own processes and the load balancer apart"
    echo
    storm_table
    echo
  } >>"$work/storm.md"
  local pid
  for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
}

main() {
  parse "$@"
  ulimit -n "$(ulimit -Hn)"
  if ((BUILD)); then
    if [ "$PROFILE" = release ]; then
      cargo build -q --release -p yealink-prov -p prov-sim --bins
    else
      cargo build -q -p yealink-prov -p prov-sim --bins
    fi
  fi
  BIN=${BIN:-${CARGO_TARGET_DIR:-target}/$PROFILE}
  OURS=$BIN/yealink-prov
  SIM=$BIN/yealink-sim
  work=$(mktemp -d /tmp/yp-scale.XXXXXX)
  trap cleanup_all EXIT
  trap 'exit 130' INT TERM
  if ((DEVICES_TLS)); then
    "$SIM" tls-cert --out "$work/devices-tls" >/dev/null
    SIM_TLS_ARGS=(--devices-tls-cert "$work/devices-tls/cert.pem" --devices-tls-key "$work/devices-tls/key.pem")
    SERVER_TLS_ENV=(YEALINK_PROV_INNOVAPHONE__DEVICES_CA_FILE="$work/devices-tls/ca.pem")
  fi
  : >"$work/spread.md"
  : >"$work/storm.md"
  if ((MAX_INSTANCES > 1 || STORM)); then pg_start; fi

  results=()
  local n k
  for n in $PHONES; do
    for k in $INSTANCES; do
      if ((k == 1)); then one_instance "$n"; else spread "$n" "$k"; fi
    done
  done
  ((STORM)) && storm_compare

  if ((BUILD)); then
    label="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (with uncommitted changes)')"
  else
    label="binaries in $BIN (not rebuilt; HEAD is $(git rev-parse --short HEAD))"
  fi
  local report="" command
  # The original one-instance report keeps its form (and its own command line).
  ((${#results[@]})) && report=$(one_instance_report)$'\n\n'
  command=$(printf '%q ' "$@")
  if [[ $INSTANCES != 1 ]] || ((STORM)); then
    report+="- command: \`bench/scale.sh ${command% }\` ($PROFILE build)
- build: $label
- machine: $(nproc) cores, $(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM; load average at the end: $(loadavg)

$(cat "$work/spread.md" "$work/storm.md")"
  fi
  echo "$report"
  if [[ -n $OUT ]]; then
    echo "$report" >"$OUT"
    # wrk's own output and the key/value results of every storm round, beside the report.
    if [[ -d $work/storm/raw ]]; then mkdir -p "$OUT.raw" && cp "$work"/storm/raw/* "$OUT.raw/"; fi
  fi
  exit 0
}

main "$@"
