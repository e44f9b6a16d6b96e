#!/usr/bin/env bash
# Boot-storm benchmark: yealink-prov against nginx serving the very same bytes.
#
# A benchmark, not a test: loopback only, every run bounded in count and time, and every
# process it starts is stopped on exit. See docs/benchmarks.md for what is measured and why.
#
#   bench/boot-storm.sh [--phones 10000] [--concurrency 256] [--rounds 3] [--big 100000]
#                       [--generator wrk|sim] [--threads 2] [--duration 10]
#                       [--port 18080] [--nginx-port 18081] [--big-port 18082]
#                       [--no-build] [--keep-work] [--out bench-out]
#                       [--tls [--tls-port 18443] [--tls-modes fresh,resumed,keepalive]]
#
# The functions below can also be sourced (`source bench/boot-storm.sh`) to run a part alone.
set -euo pipefail
umask 022
# The server and its CLI log at warn: the benchmark's own output stays readable.
export RUST_LOG=warn

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OURS="$TARGET_DIR/release/yealink-prov"
SIM="$TARGET_DIR/release/yealink-sim"

PHONES=10000
CONCURRENCY=256
ROUNDS=3
BIG=100000
PORT=18080
NGINX_PORT=18081
BIG_PORT=18082
# --tls: both servers on HTTPS with one throwaway P-256 certificate (our HTTPS listener on
# TLS_PORT, nginx on NGINX_PORT), measured in each of TLS_MODES (see tls_mode_args).
TLS=0
TLS_PORT=18443
TLS_MODES=fresh,resumed,keepalive
# wrk (an outside generator, the reference) or sim (our own `yealink-sim boot-storm`).
GENERATOR=wrk
WRK_THREADS=2
WRK_SECONDS=10
BUILD=1
KEEP_WORK=0
OUT_DIR="$ROOT/bench-out"
# Upper bound for one storm or one import, in seconds: the run stops by itself.
STEP_TIMEOUT=900
MODELS=(T46U T54W T33G CP925 W70B)
ADMIN_PASSWORD="bench-admin-$$-$RANDOM$RANDOM"

WORK=""
STARTED_PIDS=()
# curl's options for the bench's own HTTPS servers (the throwaway CA), set by make_pki.
CURL_TLS=()

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

parse_args() {
    while (($#)); do
        case "$1" in
            --phones) PHONES="$2"; shift 2 ;;
            --concurrency) CONCURRENCY="$2"; shift 2 ;;
            --rounds) ROUNDS="$2"; shift 2 ;;
            --big) BIG="$2"; shift 2 ;;
            --port) PORT="$2"; shift 2 ;;
            --nginx-port) NGINX_PORT="$2"; shift 2 ;;
            --big-port) BIG_PORT="$2"; shift 2 ;;
            --generator) GENERATOR="$2"; shift 2 ;;
            --threads) WRK_THREADS="$2"; shift 2 ;;
            --duration) WRK_SECONDS="$2"; shift 2 ;;
            --no-build) BUILD=0; shift ;;
            --keep-work) KEEP_WORK=1; shift ;;
            --out) OUT_DIR="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
            --tls) TLS=1; shift ;;
            --tls-port) TLS_PORT="$2"; shift 2 ;;
            --tls-modes) TLS_MODES="$2"; shift 2 ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument: $1" ;;
        esac
    done
    local n
    [[ "$GENERATOR" == wrk || "$GENERATOR" == sim ]] || die "--generator must be wrk or sim"
    for n in "$PHONES" "$CONCURRENCY" "$ROUNDS" "$BIG" "$PORT" "$NGINX_PORT" "$BIG_PORT" \
        "$WRK_THREADS" "$WRK_SECONDS" "$TLS_PORT"; do
        [[ "$n" =~ ^[0-9]+$ ]] || die "not a number: $n"
    done
    ((PHONES >= 1 && PHONES <= 1000000)) || die "--phones must be 1..1000000"
    ((BIG == 0 || (BIG >= 100 && BIG <= 1000000))) || die "--big must be 0 or 100..1000000"
    ((CONCURRENCY >= 1 && ROUNDS >= 1)) || die "--concurrency and --rounds must be >= 1"
    ((WRK_THREADS >= 1 && WRK_SECONDS >= 1 && WRK_SECONDS <= 600)) \
        || die "--threads must be >= 1 and --duration 1..600"
    ((CONCURRENCY >= WRK_THREADS)) || die "--concurrency must be >= --threads"
    if ((TLS)); then
        [[ "$GENERATOR" == wrk ]] || die "--tls measures with wrk only"
        [[ "$TLS_MODES" =~ ^(fresh|resumed|keepalive)(,(fresh|resumed|keepalive))*$ ]] \
            || die "--tls-modes: a comma-separated list of fresh, resumed, keepalive"
    fi
}

# Stops every process this script started (TERM, then KILL after 5 s), removes the work dir.
cleanup() {
    local status=$? pid i
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    STARTED_PIDS=()
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if ((KEEP_WORK)); then
            log "work dir kept: $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$status"
}

# Stops one started process and forgets it.
stop_pid() {
    local pid="$1" i kept=()
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for i in "${STARTED_PIDS[@]}"; do
        [[ "$i" == "$pid" ]] || kept+=("$i")
    done
    STARTED_PIDS=("${kept[@]}")
}

require_port_free() {
    if ss -Htln "sport = :$1" | grep -q .; then
        die "port $1 is already in use (choose another with the port flags)"
    fi
}

# Waits until URL answers 2xx, while PID lives; at most $3 seconds.
wait_http() {
    local url="$1" pid="$2" seconds="$3" log_file="${4:-}" i
    for ((i = 0; i < seconds * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            [[ -n "$log_file" ]] && tail -n 20 "$log_file" >&2
            die "process $pid exited before $url answered"
        fi
        curl -fsS -o /dev/null --max-time 1 "${CURL_TLS[@]}" "$url" 2>/dev/null && return 0
        sleep 0.1
    done
    [[ -n "$log_file" ]] && tail -n 20 "$log_file" >&2
    die "$url did not answer within ${seconds}s"
}

# VmRSS / VmHWM of a process in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

ensure_wrk() {
    if ! command -v wrk >/dev/null; then
        log "installing wrk (Debian package)"
        ((EUID == 0)) || die "wrk missing and not root: apt-get install wrk"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
    fi
}

# cpu_ticks PID...: "USER SYSTEM" CPU of these processes and their children (nginx: the master
# and its workers), in clock ticks, from /proc/PID/stat (fields 14 and 15, counted after the
# command name, which may hold spaces).
cpu_ticks() {
    local pid all=() user=0 system=0 stat rest u s
    for pid in "$@"; do
        all+=("$pid")
        # Children at this moment (nginx's workers live as long as the master).
        while read -r child; do all+=("$child"); done < <(pgrep -P "$pid" || true)
    done
    for pid in "${all[@]}"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        read -r u s < <(awk '{ print $12, $13 }' <<<"$rest")
        user=$((user + u))
        system=$((system + s))
    done
    echo "$user $system"
}

# cpu_total PID...: user + system of cpu_ticks.
cpu_total() {
    local u s
    read -r u s < <(cpu_ticks "$@")
    echo $((u + s))
}

# tls_mode_args MODE: the words that run wrk in that --tls mode, before wrk's own arguments
# (`env ...` or nothing) and after them (the Lua script's `close`).
#   fresh      one request per connection, each a full TLS handshake (a factory-fresh phone:
#              the no-resume shim drops wrk's session before each reconnect)
#   resumed    one request per connection, resuming the session the server offered (a phone
#              that reconnects for its next file)
#   keepalive  connections kept for the whole round (handshakes only at the start)
tls_mode_args() {
    case "$1" in
        fresh) PRE=(env "LD_PRELOAD=$NO_RESUME") POST=(close) ;;
        resumed) PRE=() POST=(close) ;;
        keepalive | "") PRE=() POST=() ;;
        *) die "unknown TLS mode $1" ;;
    esac
}

# wrk_round NAME BASE_URL PID [MODE]: one timed wrk run; key/value results in $RAW/NAME.res.
wrk_round() {
    local name="$1" url="$2" pid="$3" mode="${4:-}" before after client PRE POST
    tls_mode_args "$mode"
    before=$(cpu_ticks "$pid")
    client=$( {
        TIMEFORMAT='%U %S'
        time timeout "$STEP_TIMEOUT" "${PRE[@]}" wrk -t"$WRK_THREADS" -c"$CONCURRENCY" \
            -d"${WRK_SECONDS}s" --latency -s "$ROOT/bench/wrk-boot-storm.lua" "$url" \
            -- "$WORK/requests.tsv" "$RAW/$name.res" "${POST[@]}" >"$RAW/$name.txt" 2>&1
    } 2>&1) || { cat "$RAW/$name.txt" >&2; die "wrk round $name failed"; }
    after=$(cpu_ticks "$pid")
    [[ -s "$RAW/$name.res" ]] || { cat "$RAW/$name.txt" >&2; die "wrk wrote no result for $name"; }
    local user0 sys0 user1 sys1
    read -r user0 sys0 <<<"$before"
    read -r user1 sys1 <<<"$after"
    {
        echo "server_ticks $((user1 + sys1 - user0 - sys0))"
        echo "server_user_ticks $((user1 - user0))"
        echo "server_sys_ticks $((sys1 - sys0))"
        echo "clk_tck $(getconf CLK_TCK)"
        awk '{ printf "client_cpu_s %.3f\n", $1 + $2 }' <<<"$client"
    } >>"$RAW/$name.res"
    awk '/^requests|^p50_us|^p99_us|^errors_status/ { printf "%s=%s ", $1, $2 } END { print "" }' \
        "$RAW/$name.res" | sed "s/^/  [$name] /" >&2
}

# wrk_table [MODE]: markdown comparison of the wrk rounds (every round, and the median ones);
# with MODE, of the rounds named <side>-MODE-<round>.
wrk_table() {
    local tag=""
    [[ -z "${1:-}" ]] || tag="-$1"
    awk -v rounds="$ROUNDS" -v raw="$RAW" -v tag="$tag" 'function load(file, k, v) {
            delete kv
            while ((getline line < file) > 0) { split(line, p, " "); kv[p[1]] = p[2] }
            close(file)
        }
        function row(side, r,    rps, cpu, gen, errs) {
            load(raw "/" side tag "-" r ".res")
            rps = kv["requests"] / (kv["duration_us"] / 1e6)
            cpu = kv["server_ticks"] / kv["clk_tck"] * 1e6 / kv["requests"]
            gen = kv["client_cpu_s"] * 1e6 / kv["requests"]
            errs = kv["errors_connect"] + kv["errors_read"] + kv["errors_write"] + kv["errors_timeout"] + kv["errors_status"]
            RPS[side, r] = rps; P50[side, r] = kv["p50_us"] / 1000; P99[side, r] = kv["p99_us"] / 1000
            CPU[side, r] = cpu; GEN[side, r] = gen; ERR[side, r] = errs; REQ[side, r] = kv["requests"]
            USR[side, r] = kv["server_user_ticks"] / kv["clk_tck"] * 1e6 / kv["requests"]
            SYS[side, r] = kv["server_sys_ticks"] / kv["clk_tck"] * 1e6 / kv["requests"]
            # All rounds together: less noise than one median round.
            TREQ[side] += kv["requests"]; TSEC[side] += kv["duration_us"] / 1e6
            TCPU[side] += kv["server_ticks"] / kv["clk_tck"]
            TUSR[side] += kv["server_user_ticks"] / kv["clk_tck"]; TSYS[side] += kv["server_sys_ticks"] / kv["clk_tck"]
        }
        function median(side,    i, j, t, idx) {
            for (i = 1; i <= rounds; i++) idx[i] = i
            for (i = 1; i <= rounds; i++) for (j = i + 1; j <= rounds; j++)
                if (RPS[side, idx[j]] < RPS[side, idx[i]]) { t = idx[i]; idx[i] = idx[j]; idx[j] = t }
            return idx[int((rounds + 1) / 2)]
        }
        BEGIN {
            for (r = 1; r <= rounds; r++) { row("ours", r); row("nginx", r) }
            print "| round | server | requests/s | p50 (ms) | p99 (ms) | server CPU per request (µs) | of it user / system | wrk CPU per request (µs) | requests | errors |"
            print "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
            for (r = 1; r <= rounds; r++) for (s = 0; s < 2; s++) {
                side = s ? "nginx" : "ours"
                printf "| %d | %s | %.0f | %.2f | %.2f | %.1f | %.1f / %.1f | %.1f | %d | %d |\n", r, side == "ours" ? "yealink-prov" : "nginx", RPS[side, r], P50[side, r], P99[side, r], CPU[side, r], USR[side, r], SYS[side, r], GEN[side, r], REQ[side, r], ERR[side, r]
            }
            o = median("ours"); n = median("nginx")
            print ""
            print "| median round by requests/s | yealink-prov | nginx | ours/nginx |"
            print "|---|---:|---:|---:|"
            printf "| requests/s | %.0f | %.0f | %.2f |\n", RPS["ours", o], RPS["nginx", n], RPS["ours", o] / RPS["nginx", n]
            printf "| latency p50 (ms) | %.2f | %.2f | %.2f |\n", P50["ours", o], P50["nginx", n], P50["ours", o] / P50["nginx", n]
            printf "| latency p99 (ms) | %.2f | %.2f | %.2f |\n", P99["ours", o], P99["nginx", n], P99["ours", o] / P99["nginx", n]
            printf "| server CPU per request (µs) | %.1f | %.1f | %.2f |\n", CPU["ours", o], CPU["nginx", n], CPU["ours", o] / CPU["nginx", n]
            print ""
            print "| all rounds together | yealink-prov | nginx | ours/nginx |"
            print "|---|---:|---:|---:|"
            ro = TREQ["ours"] / TSEC["ours"]; rn = TREQ["nginx"] / TSEC["nginx"]
            printf "| requests/s | %.0f | %.0f | %.2f |\n", ro, rn, ro / rn
            co = TCPU["ours"] * 1e6 / TREQ["ours"]; cn = TCPU["nginx"] * 1e6 / TREQ["nginx"]
            printf "| server CPU per request (µs) | %.1f | %.1f | %.2f |\n", co, cn, co / cn
            uo = TUSR["ours"] * 1e6 / TREQ["ours"]; un = TUSR["nginx"] * 1e6 / TREQ["nginx"]
            printf "| of it user (µs) | %.1f | %.1f | %.2f |\n", uo, un, uo / un
            so = TSYS["ours"] * 1e6 / TREQ["ours"]; sn = TSYS["nginx"] * 1e6 / TREQ["nginx"]
            printf "| of it system (µs) | %.1f | %.1f | %.2f |\n", so, sn, so / sn
        }'
}

build() {
    if ((BUILD)); then
        log "building release binaries"
        (cd "$ROOT" && cargo build --release -p yealink-prov -p prov-sim)
    fi
    [[ -x "$OURS" ]] || die "missing $OURS"
    [[ -x "$SIM" ]] || die "missing $SIM"
}

ensure_nginx() {
    if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
        log "installing nginx (Debian package)"
        ((EUID == 0)) || die "nginx missing and not root: apt-get install nginx"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
    fi
    NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
}

# gen_csv N FILE: N distinct devices, MACs from Yealink's 805ec0 OUI, models cycling.
gen_csv() {
    awk -v n="$1" -v models="${MODELS[*]}" 'BEGIN {
        count = split(models, m, " ")
        srand(20261126)
        print "mac,sip_user,sip_password,registrar,auth_name,display_name,name,model"
        for (i = 0; i < n; i++) {
            user = 100000 + i
            pw = sprintf("Bp%06x%06x", int(rand() * 16777215), int(rand() * 16777215))
            printf "805ec0%06x,%d,%s,127.0.0.1,%d,Bench Phone %d,bench-%d,%s\n",
                i, user, pw, user, i, i, m[i % count + 1]
        }
    }' >"$2"
}

# prepare_data DIR N PORT: imports N devices into a fresh data dir served on PORT.
prepare_data() {
    local dir="$1" n="$2" port="$3" csv start end
    mkdir -p "$dir"
    chmod 700 "$dir"
    csv="$dir.csv"
    gen_csv "$n" "$csv"
    log "importing $n devices into $dir"
    start=$(date +%s.%N)
    timeout "$STEP_TIMEOUT" "$OURS" device import "$csv" --data-dir "$dir" >"$dir.import.log" 2>&1 \
        || { tail -n 20 "$dir.import.log" >&2; die "device import failed"; }
    end=$(date +%s.%N)
    IMPORT_SECONDS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    "$OURS" settings set "public_base_url=http://127.0.0.1:$port" --data-dir "$dir" >/dev/null
}

# start_server DIR PORT [TLS_PORT]: sets SERVER_PID. With TLS_PORT, also the HTTPS listener
# there, with the certificate of make_pki.
start_server() {
    local dir="$1" port="$2" tls_port="${3:-}" tls_env=()
    require_port_free "$port"
    if [[ -n "$tls_port" ]]; then
        require_port_free "$tls_port"
        tls_env=(env "YEALINK_PROV_LISTEN_TLS=127.0.0.1:$tls_port"
            "YEALINK_PROV_TLS_CERT=$WORK/tls/server.pem" "YEALINK_PROV_TLS_KEY=$WORK/tls/server.key")
    fi
    YEALINK_PROV_ADMIN_PASSWORD="$ADMIN_PASSWORD" "${tls_env[@]}" \
        "$OURS" serve --listen "127.0.0.1:$port" --data-dir "$dir" >"$dir.server.log" 2>&1 &
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    wait_http "http://127.0.0.1:$port/healthz" "$SERVER_PID" 60 "$dir.server.log"
    [[ -z "$tls_port" ]] \
        || wait_http "https://127.0.0.1:$tls_port/healthz" "$SERVER_PID" 30 "$dir.server.log"
    log "yealink-prov pid $SERVER_PID on 127.0.0.1:$port${tls_port:+ and https://127.0.0.1:$tls_port}"
}

# make_pki: a throwaway CA and a P-256 server certificate for 127.0.0.1 in $WORK/tls (both
# servers use the same files), and the no-resume shim for wrk ($NO_RESUME).
make_pki() {
    local dir="$WORK/tls"
    mkdir -p "$dir"
    (
        cd "$dir"
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj "/CN=boot-storm bench CA" -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
            "keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.pem 2>/dev/null
    ) || die "cannot make the bench certificate (openssl)"
    # nginx's workers (an unprivileged user) read the key too; it is a throwaway.
    chmod 644 "$dir/server.key" "$dir/server.pem" "$dir/ca.pem"
    chmod 711 "$dir"
    CURL_TLS=(--cacert "$dir/ca.pem")
    NO_RESUME="$dir/no-resume.so"
    cc -shared -fPIC -O2 -o "$NO_RESUME" "$ROOT/bench/no-resume.c" -ldl \
        || die "cannot build bench/no-resume.c (a C compiler is needed for --tls)"
}

# tls_probe NAME PORT: what one full handshake with OpenSSL's client negotiates (protocol,
# cipher, group, certificate message, session tickets sent), as key/value lines in
# $RAW/NAME.tls. The client is the same OpenSSL as wrk's, with its default offer.
tls_probe() {
    local name="$1" port="$2" out
    out=$(printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
            -CAfile "$WORK/tls/ca.pem" -msg -ign_eof 2>&1) || true
    awk 'function hex(h,    i, v) {
            v = 0; h = tolower(h)
            for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
            return v
        }
        /^New, / { proto = $2; sub(/,$/, "", proto); cipher = $NF }
        /Server Temp Key:/ { group = $4; sub(/,$/, "", group) }
        /<<< .*Handshake \[length [0-9a-f]+\], Certificate$/ {
            len = $0; sub(/.*length /, "", len); sub(/\].*/, "", len); cert = hex(len) }
        /<<< .*NewSessionTicket/ { tickets++ }
        /Verify return code: 0/ { ok = 1 }
        END { printf "protocol %s\ncipher %s\ngroup %s\ncertificate_bytes %d\ntickets %d\nverified %d\n",
            proto, cipher, group, cert, tickets, ok }' <<<"$out" >"$RAW/$name.tls"
    grep -q '^verified 1' "$RAW/$name.tls" || { echo "$out" | tail -n 20 >&2; die "TLS probe $name failed"; }
    log "  [$name] $(tr '\n' ' ' <"$RAW/$name.tls")"
}

# write_nginx_conf DIR ROOT PORT [handshake-log]: a minimal static server rooted at ROOT; with
# --tls on HTTPS with make_pki's certificate, and with handshake-log each request's TLS
# session (reused or not) logged to DIR/handshakes.log (for the check, not for the rounds).
write_nginx_conf() {
    local dir="$1" root="$2" port="$3" variant="${4:-}" listen="127.0.0.1:$port" tls="" access="access_log off;"
    mkdir -p "$dir/tmp"
    if ((TLS)); then
        listen="$listen ssl"
        # The protocol versions rustls offers (nginx 1.22's default also has TLS 1.0 and 1.1,
        # and lacks 1.3); everything else is nginx's default: session tickets on (OpenSSL sends
        # two per TLS 1.3 handshake), no server-side session cache.
        tls="ssl_certificate $WORK/tls/server.pem;
        ssl_certificate_key $WORK/tls/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;"
    fi
    if [[ "$variant" == handshake-log ]]; then
        access="log_format handshake '\$ssl_session_reused \$ssl_protocol \$ssl_cipher';
    access_log $dir/handshakes.log handshake;"
    fi
    cat >"$dir/nginx.conf" <<EOF
# Generated by bench/boot-storm.sh: static files only, as fast as nginx goes here.
worker_processes auto;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections 4096;
}
http {
    $access
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    # The storm keeps its connections for the whole run, as our server lets it.
    keepalive_requests 1000000;
    default_type text/plain;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen $listen;
        $tls
        root $root;
        location / {
            try_files \$uri =404;
        }
    }
}
EOF
}

# start_nginx DIR ROOT PORT [VARIANT]: sets NGINX_PID (the master, kept in the foreground).
start_nginx() {
    local dir="$1" root="$2" port="$3" variant="${4:-}" scheme=http
    ((TLS)) && scheme=https
    require_port_free "$port"
    write_nginx_conf "$dir" "$root" "$port" "$variant"
    # Workers run as an unprivileged user: they must be able to read the files.
    chmod -R a+rX "$root"
    "$NGINX_BIN" -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
        || die "nginx config test failed (see $dir/error.log)"
    "$NGINX_BIN" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
    NGINX_PID=$!
    STARTED_PIDS+=("$NGINX_PID")
    local probe
    probe="$(cd "$root" && find . -type f -name '*.cfg' -print -quit)"
    [[ -n "$probe" ]] || die "nothing to serve in $root"
    wait_http "$scheme://127.0.0.1:$port/${probe#./}" "$NGINX_PID" 30 "$dir/error.log"
    log "nginx pid $NGINX_PID on 127.0.0.1:$port"
}

# handshake_check: what the --tls modes make wrk do, counted by nginx (which can log whether
# each request came on a resumed session) on a short run of 4 connections before the rounds:
# in fresh mode no request may come on a resumed session. Lines in $RAW/handshakes.txt.
handshake_check() {
    local dir="$WORK/nginx-check" mode before full resumed PRE POST
    start_nginx "$dir" "$WORK/www" "$NGINX_PORT" handshake-log
    : >"$RAW/handshakes.txt"
    for mode in fresh resumed; do
        tls_mode_args "$mode"
        before=$(wc -l <"$dir/handshakes.log")
        timeout 60 "${PRE[@]}" wrk -t1 -c4 -d2s -s "$ROOT/bench/wrk-boot-storm.lua" \
            "https://127.0.0.1:$NGINX_PORT" -- "$WORK/requests.tsv" "$RAW/check-$mode.res" \
            "${POST[@]}" >"$RAW/check-$mode.txt" 2>&1 || die "wrk check ($mode) failed"
        read -r full resumed < <(tail -n +"$((before + 1))" "$dir/handshakes.log" |
            awk '$1 == "r" { r++ } $1 != "r" { f++ } END { print f + 0, r + 0 }')
        echo "$mode $full $resumed" >>"$RAW/handshakes.txt"
        log "  [check $mode] requests on a new session: $full, on a resumed one: $resumed"
        if [[ "$mode" == fresh ]] && ((resumed > 0 || full == 0)); then
            die "the fresh mode resumed $resumed sessions: the no-resume shim does not work here"
        fi
    done
    stop_pid "$NGINX_PID"
}

# same_bytes_over_tls: the first phone's three files, fetched from our HTTPS listener with its
# User-Agent, are byte for byte what nginx serves (saved from the plain listener).
same_bytes_over_tls() {
    local path agent
    while IFS=$'\t' read -r path agent; do
        curl -fsS --max-time 10 "${CURL_TLS[@]}" -A "$agent" -o "$WORK/tls/probe.body" \
            "https://127.0.0.1:$TLS_PORT$path" || die "cannot fetch $path over HTTPS"
        cmp -s "$WORK/tls/probe.body" "$WORK/www$path" \
            || die "$path over HTTPS differs from the bytes nginx serves"
    done < <(head -n 3 "$WORK/requests.tsv")
}

# tls_tables MODE...: the wrk tables of each --tls mode, and what the handshakes negotiated.
tls_tables() {
    local mode
    echo "| one handshake with OpenSSL's client | yealink-prov | nginx |"
    echo "|---|---|---|"
    local key
    for key in protocol cipher group certificate_bytes tickets; do
        printf '| %s | %s | %s |\n' "$key" "$(awk -v k="$key" '$1 == k { print $2 }' "$RAW/ours.tls")" \
            "$(awk -v k="$key" '$1 == k { print $2 }' "$RAW/nginx.tls")"
    done
    echo
    echo "Handshake check (nginx's log, 4 connections, 2 s): $(awk '{ printf "%s%s: %d requests on a new session, %d on a resumed one", sep, $1, $2, $3; sep = "; " }' "$RAW/handshakes.txt")."
    for mode in "$@"; do
        echo
        case "$mode" in
            fresh) echo "#### fresh: one request per connection, each a full TLS handshake" ;;
            resumed) echo "#### resumed: one request per connection, resuming the offered session" ;;
            keepalive) echo "#### keepalive: HTTPS, connections kept for the whole round" ;;
        esac
        echo
        wrk_table "$mode"
    done
}

# storm NAME PHONES_JSON [extra boot-storm flags...]: report in $RAW/NAME.json.
storm() {
    local name="$1" phones="$2"
    shift 2
    timeout "$STEP_TIMEOUT" "$SIM" boot-storm --phones "$phones" --concurrency "$CONCURRENCY" \
        --files boot,common,mac --rounds 1 --json-out "$RAW/$name.json" "$@" >"$RAW/$name.txt" \
        || die "storm $name failed"
    sed "s/^/  [$name] /" "$RAW/$name.txt" >&2
}

errors_in() { jq '[.rounds[].errors_total] | add' "$1"; }

# The 100,000-device check: RSS after start and after 20 paged list requests, their latency.
# Runs in the main shell (not in $(...)) so the EXIT trap knows the server it starts;
# writes its markdown section to $RAW/big.md.
big_check() {
    local dir="$WORK/big" i step offset code seconds times codes rss0 hwm0 rss1 hwm1 bad
    prepare_data "$dir" "$BIG" "$BIG_PORT"
    start_server "$dir" "$BIG_PORT"
    sleep 1
    rss0=$(rss_kib "$SERVER_PID")
    hwm0=$(hwm_kib "$SERVER_PID")
    step=$((BIG / 20))
    # The header from a file keeps the password out of the process list.
    (umask 077 && printf 'Authorization: Bearer %s\n' "$ADMIN_PASSWORD" >"$WORK/admin-header")
    : >"$RAW/big-list.txt"
    for ((i = 0; i < 20; i++)); do
        offset=$((i * step))
        read -r code seconds < <(curl -sS -o /dev/null --max-time 30 -H "@$WORK/admin-header" \
            -w '%{http_code} %{time_total}\n' \
            "http://127.0.0.1:$BIG_PORT/api/v1/devices?limit=50&offset=$offset" || echo "000 30")
        echo "$offset $code $seconds" >>"$RAW/big-list.txt"
    done
    rss1=$(rss_kib "$SERVER_PID")
    hwm1=$(hwm_kib "$SERVER_PID")
    stop_pid "$SERVER_PID"
    bad=$(awk '$2 != 200' "$RAW/big-list.txt" | wc -l)
    # Nearest-rank percentiles over the 20 samples, in milliseconds.
    times=$(awk '{ print $3 * 1000 }' "$RAW/big-list.txt" | sort -n)
    local p50 p99
    p50=$(echo "$times" | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR * 50 + 99) / 100)] }')
    p99=$(echo "$times" | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR * 99 + 99) / 100)] }')
    codes=$(awk '{ print $2 }' "$RAW/big-list.txt" | sort | uniq -c | awk '{ printf "%s%s×%s", sep, $2, $1; sep = ", " }')
    cat >"$RAW/big.md" <<EOF

### $BIG devices

| metric | value |
|---|---:|
| \`device import\` of $BIG devices | ${IMPORT_SECONDS} s |
| RSS after start (VmRSS / VmHWM) | $(mib "$rss0") / $(mib "$hwm0") MiB |
| RSS after 20 list requests (VmRSS / VmHWM) | $(mib "$rss1") / $(mib "$hwm1") MiB |
| \`GET /api/v1/devices?limit=50&offset=K\` p50 | $p50 ms |
| same, p99 (of 20: the slowest) | $p99 ms |
| responses | $codes |

EOF
    ((bad == 0)) || log "WARNING: $bad of 20 list requests were not 200 (see $RAW/big-list.txt)"
}

machine() {
    local cpu mem
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    mem=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
    echo "$(nproc) cores ($cpu), $mem RAM, Linux $(uname -r), $("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')"
}

main() {
    parse_args "$@"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    command -v jq >/dev/null || die "jq is required (apt-get install jq)"
    build
    ensure_nginx
    require_port_free "$PORT"
    require_port_free "$NGINX_PORT"
    ((BIG == 0)) || require_port_free "$BIG_PORT"
    ((TLS == 0)) || require_port_free "$TLS_PORT"
    if ((TLS)); then
        command -v openssl >/dev/null || die "openssl is required for --tls (apt-get install openssl)"
        command -v cc >/dev/null || die "a C compiler is required for --tls (apt-get install gcc)"
    fi

    WORK="$(mktemp -d "${TMPDIR:-/tmp}/boot-storm.XXXXXX")"
    # nginx workers (an unprivileged user) need to traverse into the served copy.
    chmod 711 "$WORK"
    RAW="$WORK/raw"
    mkdir -p "$RAW" "$WORK/nginx" "$WORK/www"
    log "work dir $WORK"

    prepare_data "$WORK/data" "$PHONES" "$PORT"
    "$OURS" device list --json --reveal --data-dir "$WORK/data" >"$WORK/phones.json"
    chmod 600 "$WORK/phones.json"
    local listed
    listed=$(jq length "$WORK/phones.json")
    ((listed == PHONES)) || die "device list printed $listed devices, expected $PHONES"

    ((TLS == 0)) || make_pki
    start_server "$WORK/data" "$PORT" "$( ((TLS)) && echo "$TLS_PORT")"
    local ours_pid="$SERVER_PID" rss_start
    rss_start=$(rss_kib "$ours_pid")

    log "warm-up storm against yealink-prov, saving the bytes for nginx"
    storm warmup "$WORK/phones.json" --save-dir "$WORK/www" --requests-out "$WORK/requests.tsv"
    local warm_errors
    warm_errors=$(errors_in "$RAW/warmup.json")
    ((warm_errors == 0)) || log "WARNING: $warm_errors errors in the warm-up: nginx will lack those files"

    ensure_nginx
    if ((TLS)); then
        ensure_wrk
        handshake_check
    fi
    start_nginx "$WORK/nginx" "$WORK/www" "$NGINX_PORT"

    local r ours_reports=() nginx_reports=() comparison load_before hwm_after
    if ((TLS)); then
        same_bytes_over_tls
        tls_probe ours "$TLS_PORT"
        tls_probe nginx "$NGINX_PORT"
    fi
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    if ((TLS)); then
        local mode modes
        IFS=, read -r -a modes <<<"$TLS_MODES"
        for ((r = 1; r <= ROUNDS; r++)); do
            for mode in "${modes[@]}"; do
                local order=(nginx ours)
                ((r % 2 == 0)) && order=(ours nginx)
                local side
                for side in "${order[@]}"; do
                    log "round $r/$ROUNDS, $mode: $side (wrk, ${WRK_SECONDS} s)"
                    if [[ "$side" == nginx ]]; then
                        wrk_round "nginx-$mode-$r" "https://127.0.0.1:$NGINX_PORT" "$NGINX_PID" "$mode"
                    else
                        wrk_round "ours-$mode-$r" "https://127.0.0.1:$TLS_PORT" "$ours_pid" "$mode"
                    fi
                done
            done
        done
        comparison=$(tls_tables "${modes[@]}")
    elif [[ "$GENERATOR" == wrk ]]; then
        ensure_wrk
        for ((r = 1; r <= ROUNDS; r++)); do
            local order=(nginx ours)
            ((r % 2 == 0)) && order=(ours nginx)
            local side
            for side in "${order[@]}"; do
                log "round $r/$ROUNDS: $side (wrk, ${WRK_SECONDS} s)"
                if [[ "$side" == nginx ]]; then
                    wrk_round "nginx-$r" "http://127.0.0.1:$NGINX_PORT" "$NGINX_PID"
                else
                    wrk_round "ours-$r" "http://127.0.0.1:$PORT" "$ours_pid"
                fi
            done
        done
        comparison=$(wrk_table)
    fi
    for ((r = 1; r <= ROUNDS; r++)); do
        [[ "$GENERATOR" == sim ]] || break
        # Alternate who goes first, so neither always meets a warmer machine.
        local order=(nginx ours)
        ((r % 2 == 0)) && order=(ours nginx)
        local side
        for side in "${order[@]}"; do
            log "round $r/$ROUNDS: $side"
            if [[ "$side" == nginx ]]; then
                storm "nginx-$r" "$WORK/phones.json" --base-url-override "http://127.0.0.1:$NGINX_PORT"
                nginx_reports+=("$RAW/nginx-$r.json")
            else
                storm "ours-$r" "$WORK/phones.json" --server-pid "$ours_pid"
                ours_reports+=("$RAW/ours-$r.json")
            fi
        done
    done
    if [[ "$GENERATOR" == sim ]]; then
        comparison=$("$SIM" compare --ours "${ours_reports[@]}" --nginx "${nginx_reports[@]}")
    fi
    hwm_after=$(hwm_kib "$ours_pid")
    stop_pid "$NGINX_PID"
    stop_pid "$ours_pid"

    : >"$RAW/big.md"
    ((BIG == 0)) || big_check

    mkdir -p "$OUT_DIR/raw"
    cp "$RAW"/*.json "$RAW"/*.txt "$RAW"/*.res "$OUT_DIR/raw/" 2>/dev/null || true
    {
        echo "## Boot storm: yealink-prov vs nginx ($(date -u +%Y-%m-%dT%H:%MZ))"
        echo
        echo "- command: \`bench/boot-storm.sh --phones $PHONES --concurrency $CONCURRENCY --rounds $ROUNDS --big $BIG --generator $GENERATOR$([[ $GENERATOR == wrk ]] && echo " --threads $WRK_THREADS --duration $WRK_SECONDS")$( ((TLS)) && echo " --tls --tls-modes $TLS_MODES")\`"
        echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
        echo "- machine: $(machine)"
        if ((TLS)); then
            echo "- TLS: both servers on HTTPS with one throwaway P-256 certificate (ECDSA, signed by a throwaway CA; the chain sent is the certificate alone), TLS 1.2 and 1.3; $(openssl version | awk '{ print $1, $2 }') in wrk and nginx"
        fi
        if [[ "$GENERATOR" == wrk ]]; then
            echo "- load: wrk $(wrk -v 2>&1 | head -n 1 | awk '{ print $2 }'), $WRK_THREADS threads, $CONCURRENCY $( ((TLS)) && echo "connections (per mode below)" || echo "keep-alive connections"), ${WRK_SECONDS} s per round, cycling the $(wc -l <"$WORK/requests.tsv") requests (\`<mac>.boot\`, common file, \`<mac>.cfg\` of $PHONES phones, token URLs, each phone's own User-Agent); load generator on the same machine"
            echo "- load on the machine before the storm: $load_before (1, 5, 15 min; 2 cores)"
        else
            echo "- load: $PHONES phones × (\`<mac>.boot\`, common file, \`<mac>.cfg\`) per round, token URLs, keep-alive, $CONCURRENCY requests in flight; load generator on the same machine"
        fi
        echo "- yealink-prov RSS after start: $(mib "$rss_start") MiB, peak (VmHWM) after the storms: $(mib "$hwm_after") MiB"
        echo
        echo "$comparison"
        cat "$RAW/big.md"
    } >"$OUT_DIR/report.md"
    cat "$OUT_DIR/report.md"
    log "report written to $OUT_DIR/report.md (raw data in $OUT_DIR/raw/)"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
