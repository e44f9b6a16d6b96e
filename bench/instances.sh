#!/usr/bin/env bash
# Tenants benchmark: one yealink-prov serving many tenants (PBX domains, docs/tenants.md), each
# with its phones, against nginx serving the very same bytes.
#
#   bench/instances.sh [--tenants 100] [--phones 100] [--pbxs 100]
#                      [--database-url postgres://...]
#                      [--rounds 2] [--duration 10] [--concurrency 256]
#                      [--port 18090] [--nginx-port 18091] [--rps-port 18092]
#                      [--no-build] [--keep-work] [--out bench-out]
#
# Measures: adding the tenants and importing their phones; ADD SERVER for every tenant through
# the shared RPS rate limit (the RPS simulator, 5 commands/s as configured by default); resident
# memory with no tenant and with every tenant idle; a restart with an App object password for
# every tenant: the time until the last tenant's site answers, and the process idle; resident
# memory per connected PBX (the first --pbxs tenants' PBXs, each a `yealink-sim innovaphone`
# with its Devices, logged in to its tenant's App object); the boot storm across every
# tenant's phones (wrk, round by round) against nginx.
# A benchmark, not a test: loopback only, every step bounded in time, every process it starts
# stopped on exit. SQLite in a fresh data folder unless --database-url names an empty
# PostgreSQL database.
set -euo pipefail

# The boot-storm benchmark's functions (build, nginx, wrk rounds and their table); its main
# only runs when it is executed itself.
# shellcheck source=bench/boot-storm.sh
source "$(dirname "${BASH_SOURCE[0]}")/boot-storm.sh"

TENANTS=100
PER_TENANT=100
PBXS=100
DATABASE_URL=""
ROUNDS=2
PORT=18090
NGINX_PORT=18091
RPS_PORT=18092
RPS_RATE=5
OUT_DIR="$ROOT/bench-out"

usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

parse_instances_args() {
    while (($#)); do
        case "$1" in
            --tenants) TENANTS="$2"; shift 2 ;;
            --phones) PER_TENANT="$2"; shift 2 ;;
            --pbxs) PBXS="$2"; shift 2 ;;
            --database-url) DATABASE_URL="$2"; shift 2 ;;
            --rounds) ROUNDS="$2"; shift 2 ;;
            --duration) WRK_SECONDS="$2"; shift 2 ;;
            --concurrency) CONCURRENCY="$2"; shift 2 ;;
            --port) PORT="$2"; shift 2 ;;
            --nginx-port) NGINX_PORT="$2"; shift 2 ;;
            --rps-port) RPS_PORT="$2"; shift 2 ;;
            --no-build) BUILD=0; shift ;;
            --keep-work) KEEP_WORK=1; shift ;;
            --out) OUT_DIR="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument: $1" ;;
        esac
    done
    local n
    for n in "$TENANTS" "$PER_TENANT" "$PBXS" "$ROUNDS" "$WRK_SECONDS" "$CONCURRENCY" "$PORT" \
        "$NGINX_PORT" "$RPS_PORT"; do
        [[ "$n" =~ ^[0-9]+$ ]] || die "not a number: $n"
    done
    ((TENANTS >= 1 && TENANTS <= 5000)) || die "--tenants must be 1..5000"
    ((PER_TENANT >= 1 && PER_TENANT <= 1000)) || die "--phones must be 1..1000"
    ((TENANTS * PER_TENANT <= 1000000)) || die "at most 1,000,000 phones in all"
    ((PBXS <= TENANTS)) || PBXS=$TENANTS
    [[ -z "$DATABASE_URL" || "$DATABASE_URL" == postgres* ]] \
        || die "--database-url: a postgres:// URL (SQLite is the default)"
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# tenant_csv T FILE: PER_TENANT devices of tenant T, MACs from Yealink's 805ec0 OUI, distinct
# across tenants (a MAC can be in one tenant only).
tenant_csv() {
    awk -v t="$1" -v n="$PER_TENANT" -v models="${MODELS[*]}" 'BEGIN {
        count = split(models, m, " ")
        print "mac,sip_user,sip_password,registrar,name,model"
        for (i = 0; i < n; i++) {
            k = t * n + i
            printf "805ec0%06x,%d,Bp%08x,127.0.0.1,t%d-%d,%s\n", k, 100000 + i, k * 7919, t, i, m[k % count + 1]
        }
    }' >"$2"
}

# serve: starts the server on $DATA (and $DATABASE_URL), with the operator's RPS account of the
# simulator; sets SERVER_PID.
serve() {
    require_port_free "$PORT"
    YEALINK_PROV_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        YEALINK_PROV_RPS__API=xmlrpc \
        YEALINK_PROV_RPS__ENDPOINT="http://127.0.0.1:$RPS_PORT/xmlrpc" \
        YEALINK_PROV_RPS__USERNAME=operator \
        YEALINK_PROV_RPS__SECRET=operator-secret \
        YEALINK_PROV_RPS_RATE_PER_SECOND="$RPS_RATE" \
        "$OURS" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" \
        ${DATABASE_URL:+--database-url "$DATABASE_URL"} >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    wait_http "http://127.0.0.1:$PORT/healthz" "$SERVER_PID" 120 "$WORK/server.log"
}

# wait_sites SECONDS: until every tenant's site answers its health check.
wait_sites() {
    local deadline=$(($(date +%s) + $1)) t
    for ((t = 1; t <= TENANTS; t++)); do
        until curl -fsS -o /dev/null "http://127.0.0.1:$PORT/t$t.bench.example/yealink/healthz" 2>/dev/null; do
            (($(date +%s) < deadline)) || die "tenant $t's site did not open within $1 s"
            sleep 0.2
        done
    done
}

# add_servers_done: how many tenants have ADD SERVER in their RPS history.
add_servers_done() {
    local t done=0 password total
    for ((t = 1; t <= TENANTS; t++)); do
        password=$(sed -n "${t}p" "$WORK/passwords")
        total=$(curl -fsS -H "Authorization: Bearer $password" \
            "http://127.0.0.1:$PORT/t$t.bench.example/yealink/api/v1/rps/history?command=ADD_SERVER&limit=1" \
            | jq '.total // 0')
        ((total > 0)) && done=$((done + 1))
    done
    echo "$done"
}

# app_object_passwords: the App object password of every tenant (each an innovaphone PBX's
# App object, as a provider's would be), one per line in $WORK/app-passwords (a running server
# takes them at its next start).
app_object_passwords() {
    local t
    : >"$WORK/app-passwords"
    chmod 600 "$WORK/app-passwords"
    for ((t = 1; t <= TENANTS; t++)); do
        "$OURS" --tenant "t$t.bench.example" pbx app-object --data-dir "$DATA" \
            ${DATABASE_URL:+--database-url "$DATABASE_URL"} \
            2>/dev/null | awk '$1 == "Password" { print $2 }' >>"$WORK/app-passwords"
    done
    (($(wc -l <"$WORK/app-passwords") == TENANTS)) || die "not every tenant printed an App object password"
}

# connect_pbxs SECONDS: the first PBXS tenants' PBXs (each with its Devices) log in to their
# tenants' App objects; sets PBX_PIDS. Fails when one is not logged in within SECONDS.
connect_pbxs() {
    local t deadline=$(($(date +%s) + $1))
    PBX_PIDS=()
    for ((t = 1; t <= PBXS; t++)); do
        YEALINK_SIM_APP_PASSWORD=$(sed -n "${t}p" "$WORK/app-passwords") \
            "$SIM" innovaphone --domain "t$t.bench.example" \
            --app-url "http://127.0.0.1:$PORT/t$t.bench.example/yealink/innovaphone-yealink" \
            >"$WORK/pbx-$t.log" 2>&1 &
        PBX_PIDS+=("$!")
        STARTED_PIDS+=("$!")
    done
    for ((t = 1; t <= PBXS; t++)); do
        until grep -q "PBX logged in" "$WORK/pbx-$t.log"; do
            (($(date +%s) < deadline)) || die "tenant $t's PBX did not log in within $1 s (see $WORK/pbx-$t.log)"
            sleep 0.2
        done
    done
}

# idle SECONDS: the server left alone; sets IDLE_RSS (KiB, at the end) and IDLE_CPU (percent
# of one core over those seconds: what the tenants cost while nothing happens).
idle() {
    local before after
    before=$(cpu_total "$SERVER_PID")
    sleep "$1"
    after=$(cpu_total "$SERVER_PID")
    IDLE_RSS=$(rss_kib "$SERVER_PID")
    IDLE_CPU=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v s="$1" \
        'BEGIN { printf "%.1f", 100 * t / hz / s }')
}

instances_main() {
    parse_instances_args "$@"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    command -v jq >/dev/null || die "jq is required (apt-get install jq)"
    command -v curl >/dev/null || die "curl is required (apt-get install curl)"
    build
    ensure_nginx
    ensure_wrk
    require_port_free "$NGINX_PORT"
    require_port_free "$RPS_PORT"
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/instances.XXXXXX")"
    chmod 711 "$WORK"
    RAW="$WORK/raw"
    DATA="$WORK/data"
    mkdir -p "$RAW" "$DATA" "$WORK/nginx" "$WORK/www"
    chmod 700 "$DATA"
    BACKEND=SQLite
    [[ -z "$DATABASE_URL" ]] || BACKEND=PostgreSQL
    log "work dir $WORK; $TENANTS tenants x $PER_TENANT phones on $BACKEND"

    YEALINK_SIM_RPS_PASSWORD=operator-secret YEALINK_SIM_RPS_SECRET=unused \
        "$SIM" rps --listen "127.0.0.1:$RPS_PORT" --user operator --access-key-id unused \
        >"$WORK/rps.log" 2>&1 &
    STARTED_PIDS+=("$!")
    local i
    # Any HTTP answer will do: the simulator is listening.
    for ((i = 0; i < 300; i++)); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$RPS_PORT/" && break
        sleep 0.1
    done

    serve
    "$OURS" settings set "public_base_url=http://127.0.0.1:$PORT" --data-dir "$DATA" \
        ${DATABASE_URL:+--database-url "$DATABASE_URL"} >/dev/null
    idle 10
    local rss_none="$IDLE_RSS" cpu_none="$IDLE_CPU"
    log "no tenant: RSS $(mib "$rss_none") MiB, CPU $cpu_none %"

    # Tenants, through the provider's API; then their phones, each through its own site.
    local t start add_s import_s csv password
    start=$(now)
    : >"$WORK/passwords"
    for ((t = 1; t <= TENANTS; t++)); do
        curl -fsS -X POST -H "Authorization: Bearer $ADMIN_PASSWORD" \
            -H 'Content-Type: application/json' \
            -d "{\"domain\": \"t$t.bench.example\"}" \
            "http://127.0.0.1:$PORT/api/v1/tenants" | jq -r .admin_password >>"$WORK/passwords"
    done
    add_s=$(since "$start")
    local added_at
    added_at=$(now)
    log "added $TENANTS tenants in $add_s s"
    wait_sites 300
    start=$(now)
    for ((t = 1; t <= TENANTS; t++)); do
        csv="$WORK/t$t.csv"
        tenant_csv "$t" "$csv"
        password=$(sed -n "${t}p" "$WORK/passwords")
        curl -fsS -X POST -H "Authorization: Bearer $password" -H 'Content-Type: text/csv' \
            --data-binary "@$csv" \
            "http://127.0.0.1:$PORT/t$t.bench.example/yealink/api/v1/devices/import" \
            | jq -e ".imported == $PER_TENANT" >/dev/null || die "import into tenant $t failed"
    done
    import_s=$(since "$start")
    log "imported $((TENANTS * PER_TENANT)) phones in $import_s s"

    # ADD SERVER for every tenant, through the one rate limit the tenants share.
    local done_now add_server_s=""
    local deadline=$(($(date +%s) + TENANTS / RPS_RATE * 3 + 120))
    while :; do
        done_now=$(add_servers_done)
        if ((done_now == TENANTS)); then
            add_server_s=$(since "$added_at")
            break
        fi
        (($(date +%s) < deadline)) || { add_server_s="not done ($done_now of $TENANTS)"; break; }
        sleep 2
    done
    log "ADD SERVER for every tenant: $add_server_s s after the last tenant was added"

    # Idle but for the RPS queue, which keeps sending the phones' redirects at the shared rate.
    idle 15
    local rss_idle="$IDLE_RSS" cpu_idle="$IDLE_CPU"
    log "every tenant (RPS queue still sending at $RPS_RATE/s): RSS $(mib "$rss_idle") MiB, CPU $cpu_idle %"

    # A restart: how long until the last tenant's site answers. Every tenant's App object
    # password is made before it, so the sites open with their innovaphone side.
    app_object_passwords
    stop_pid "$SERVER_PID"
    start=$(now)
    serve
    wait_sites 600
    local restart_s rss_restart
    restart_s=$(since "$start")
    idle 15
    local cpu_restart
    rss_restart="$IDLE_RSS" cpu_restart="$IDLE_CPU"
    log "restart: every site open after $restart_s s; idle RSS $(mib "$rss_restart") MiB, CPU $cpu_restart %"

    # PBXs: what each connected one costs (its AppWebsocket, its Devices' sysclient).
    local start_pbx pbx_s rss_pbx cpu_pbx pid
    start_pbx=$(now)
    connect_pbxs 180
    pbx_s=$(since "$start_pbx")
    idle 15
    rss_pbx="$IDLE_RSS" cpu_pbx="$IDLE_CPU"
    log "$PBXS PBXs logged in after $pbx_s s: RSS $(mib "$rss_pbx") MiB, CPU $cpu_pbx %"
    for pid in "${PBX_PIDS[@]}"; do
        stop_pid "$pid"
    done

    # The storm across every tenant's phones, and nginx on the same bytes.
    log "listing every tenant's phones"
    for ((t = 1; t <= TENANTS; t++)); do
        "$OURS" --tenant "t$t.bench.example" device list --json --reveal --data-dir "$DATA" \
            ${DATABASE_URL:+--database-url "$DATABASE_URL"} >"$WORK/phones-$t.json"
    done
    jq -s 'add' "$WORK"/phones-*.json >"$WORK/phones.json"
    rm -f "$WORK"/phones-*.json
    chmod 600 "$WORK/phones.json"
    storm warmup "$WORK/phones.json" --save-dir "$WORK/www" --requests-out "$WORK/requests.tsv"
    start_nginx "$WORK/nginx" "$WORK/www" "$NGINX_PORT"
    local r load_before
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    for ((r = 1; r <= ROUNDS; r++)); do
        local order=(nginx ours) side
        ((r % 2 == 0)) && order=(ours nginx)
        for side in "${order[@]}"; do
            log "round $r/$ROUNDS: $side (wrk, ${WRK_SECONDS} s)"
            if [[ "$side" == nginx ]]; then
                wrk_round "nginx-$r" "http://127.0.0.1:$NGINX_PORT" "$NGINX_PID"
            else
                wrk_round "ours-$r" "http://127.0.0.1:$PORT" "$SERVER_PID"
            fi
        done
    done
    local hwm
    hwm=$(hwm_kib "$SERVER_PID")

    mkdir -p "$OUT_DIR"
    local report
    report="$OUT_DIR/instances-$(date +%Y%m%d-%H%M%S).md"
    {
        echo "# Tenants: $TENANTS x $PER_TENANT phones on $BACKEND"
        echo
        echo "Command: \`bench/instances.sh --tenants $TENANTS --phones $PER_TENANT --pbxs $PBXS${DATABASE_URL:+ --database-url ...} --rounds $ROUNDS --duration $WRK_SECONDS\`"
        echo "Machine: $(machine); load before the storm: $load_before"
        echo
        echo "| | |"
        echo "|---|---|"
        echo "| adding $TENANTS tenants (provider API, one by one) | $add_s s |"
        echo "| importing $((TENANTS * PER_TENANT)) phones (each tenant's API) | $import_s s |"
        echo "| ADD SERVER for every tenant (shared limit $RPS_RATE/s) | $add_server_s s after the last tenant was added |"
        echo "| no tenant, idle: RSS, CPU | $(mib "$rss_none") MiB, $cpu_none % of a core |"
        echo "| every tenant (RPS queue sending): RSS, CPU | $(mib "$rss_idle") MiB, $cpu_idle % of a core |"
        echo "| per idle tenant (with its $PER_TENANT phones) | $(awk -v a="$rss_idle" -v b="$rss_none" -v n="$TENANTS" 'BEGIN { printf "%.1f", (a - b) / n }') KiB |"
        echo "| restart until the last site answers | $restart_s s |"
        echo "| after the restart, every tenant with its App object, idle: RSS, CPU | $(mib "$rss_restart") MiB, $cpu_restart % of a core |"
        echo "| $PBXS PBXs logged in (each with its Devices) | after $pbx_s s; RSS $(mib "$rss_pbx") MiB, CPU $cpu_pbx % of a core |"
        echo "| per connected PBX | $(awk -v a="$rss_pbx" -v b="$rss_restart" -v n="$PBXS" 'BEGIN { printf "%.1f", (a - b) / n }') KiB |"
        echo "| peak RSS (VmHWM) after the storm | $(mib "$hwm") MiB |"
        echo
        echo "Boot storm across every tenant's phones (boot, common, MAC file; wrk, the same request list for both):"
        echo
        wrk_table
    } >"$report"
    cat "$report"
    log "report: $report"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    instances_main "$@"
fi
