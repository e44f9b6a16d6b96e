#!/usr/bin/env bash
# Checks the deployment recipes as far as this machine allows (docs/deployment.md):
#
#   deploy/check.sh [PATH/TO/yealink-prov]      (default: target/release, then target/debug)
#
# - deploy/yealink-prov.service: `systemd-analyze verify` (with ExecStart pointed at the given
#   binary, since verify wants it to exist), the hardening we promise (dedicated user,
#   StateDirectory, ProtectSystem=strict, NoNewPrivileges, LimitNOFILE sized for phones), and
#   `systemd-analyze security --offline` exposure at most 2.0, when systemd-analyze is there;
# - deploy/Containerfile: every COPY source exists in the build context, the stage a
#   `COPY --from` names exists and built the file it copies, ENTRYPOINT is a file the image
#   gets, the user is not root, a VOLUME holds the data, the builder's Rust is at least the
#   workspace's rust-version, and the build context ignores target/;
# - the flags ExecStart and the Containerfile's CMD pass are accepted by
#   `yealink-prov serve --help`;
# - with a working container engine (podman, or docker with a daemon): builds the image.
#
# Exits non-zero naming every failed check. Run by the server's integration tests
# (crates/server/tests/it/deploy.rs), so CI runs it.
set -uo pipefail
cd "$(dirname "$0")/.."

UNIT=deploy/yealink-prov.service
CONTAINERFILE=deploy/Containerfile
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

BIN=${1:-}
if [ -z "$BIN" ]; then
  for candidate in "${CARGO_TARGET_DIR:-target}/release/yealink-prov" "${CARGO_TARGET_DIR:-target}/debug/yealink-prov"; do
    [ -x "$candidate" ] && { BIN=$candidate; break; }
  done
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || { echo "no yealink-prov binary (build it or pass its path)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
work=$(mktemp -d /tmp/yp-deploy-check.XXXXXX)
trap 'rm -rf "$work"' EXIT

help=$("$BIN" serve --help 2>&1) || fail "'yealink-prov serve --help' failed: $help"

# Every --flag in the words given must be listed by `serve --help`.
check_flags() {
  local where=$1; shift
  local word flag
  for word in "$@"; do
    case $word in
      --*)
        flag=${word%%=*}
        if grep -qE -- "(^|[ ,])$flag([ =,]|$)" <<<"$help"; then ok "$where: $flag is a serve flag"
        else fail "$where: $flag is not accepted by 'yealink-prov serve' (see serve --help)"; fi ;;
    esac
  done
}

# ---- the systemd unit -------------------------------------------------------------------
unit_value() { sed -n "s/^$1=//p" "$UNIT"; }
[ -f "$UNIT" ] || fail "$UNIT is missing"
[ -n "$(unit_value User)" ] && [ "$(unit_value User)" != root ] && ok "unit: dedicated user $(unit_value User)" \
  || fail "unit: needs User= other than root"
[ -n "$(unit_value StateDirectory)" ] && ok "unit: StateDirectory=$(unit_value StateDirectory)" || fail "unit: StateDirectory= missing"
[ "$(unit_value ProtectSystem)" = strict ] && ok "unit: ProtectSystem=strict" || fail "unit: ProtectSystem=strict missing"
[ "$(unit_value NoNewPrivileges)" = yes ] && ok "unit: NoNewPrivileges=yes" || fail "unit: NoNewPrivileges=yes missing"
nofile=$(unit_value LimitNOFILE)
if [[ $nofile =~ ^[0-9]+$ ]] && ((nofile >= 20000)); then ok "unit: LimitNOFILE=$nofile"
else fail "unit: LimitNOFILE must be a number >= 20000 (two descriptors per phone for 10,000 phones), is '$nofile'"; fi
# The data folder the service is given is the one StateDirectory= creates.
exec_start=$(unit_value ExecStart)
read -r -a exec_words <<<"$exec_start"
[ "${exec_words[1]:-}" = serve ] || fail "unit: ExecStart must run 'yealink-prov serve', is '$exec_start'"
check_flags unit "${exec_words[@]}"
grep -q -- "--data-dir /var/lib/$(unit_value StateDirectory)\\b" <<<"$exec_start" \
  && ok "unit: --data-dir is the StateDirectory" || fail "unit: ExecStart's --data-dir must be /var/lib/<StateDirectory>"

if command -v systemd-analyze >/dev/null 2>&1; then
  # verify wants ExecStart's binary to exist: point it at the one we check.
  sed "s#^ExecStart=${exec_words[0]}#ExecStart=$BIN#" "$UNIT" >"$work/yealink-prov.service"
  if out=$(systemd-analyze verify "$work/yealink-prov.service" 2>&1) && [ -z "$out" ]; then
    ok "unit: systemd-analyze verify"
  else
    fail "unit: systemd-analyze verify: ${out:-exit status}"
  fi
  if exposure=$(systemd-analyze security --offline=yes "$work/yealink-prov.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p') && [ -n "$exposure" ]; then
    if awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then ok "unit: systemd-analyze security exposure $exposure"
    else fail "unit: systemd-analyze security exposure $exposure (want <= 2.0)"; fi
  else
    echo "skipped: systemd-analyze security --offline (not supported by this systemd)"
  fi
else
  echo "skipped: systemd-analyze verify (systemd-analyze not installed)"
fi

# ---- the Containerfile -------------------------------------------------------------------
[ -f "$CONTAINERFILE" ] || fail "$CONTAINERFILE is missing"
# Joins continuation lines so each instruction is one line.
instructions=$(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$CONTAINERFILE" | grep -vE '^\s*(#|$)')
stages=$(sed -nE 's/^FROM .* [Aa][Ss] ([A-Za-z0-9_-]+)$/\1/p' <<<"$instructions")
final_copies=""
current_stage=""
while read -r keyword rest; do
  case ${keyword^^} in
    FROM) current_stage=$(sed -nE 's/.* [Aa][Ss] ([A-Za-z0-9_-]+)$/\1/p' <<<"$rest") ;;
    COPY)
      read -r -a words <<<"$rest"
      from=""
      args=()
      for w in "${words[@]}"; do
        case $w in
          --from=*) from=${w#--from=} ;;
          --*) ;;
          *) args+=("$w") ;;
        esac
      done
      dest=${args[-1]}
      unset 'args[-1]'
      if [ -n "$from" ]; then
        grep -qx "$from" <<<"$stages" && ok "Containerfile: stage '$from' exists" \
          || fail "Containerfile: COPY --from=$from names no earlier stage"
        for src in "${args[@]}"; do
          grep -E "^RUN .*$src" <<<"$instructions" >/dev/null && ok "Containerfile: $src is made by a RUN of the build" \
            || fail "Containerfile: COPY --from=$from $src: no RUN produces $src"
        done
      else
        for src in "${args[@]}"; do
          [ -e "$src" ] && ok "Containerfile: COPY source $src exists" || fail "Containerfile: COPY source $src does not exist in the repository"
        done
      fi
      [ -z "$current_stage" ] && final_copies+="$dest"$'\n' ;;
  esac
done <<<"$instructions"

entrypoint=$(sed -nE 's/^ENTRYPOINT \["([^"]+)".*/\1/p' <<<"$instructions")
if [ -n "$entrypoint" ] && grep -qx "$entrypoint" <<<"$final_copies"; then ok "Containerfile: ENTRYPOINT $entrypoint is copied into the image"
else fail "Containerfile: ENTRYPOINT '${entrypoint:-none}' (exec form) is not a file COPY puts into the final image"; fi
user=$(grep -E '^USER ' <<<"$instructions" | tail -n 1 | awk '{print $2}')
case ${user%%:*} in
  "" | 0 | root) fail "Containerfile: the final image must run as a non-root USER, is '${user:-root}'" ;;
  *) ok "Containerfile: runs as $user" ;;
esac
grep -qE '^VOLUME ' <<<"$instructions" && ok "Containerfile: has a VOLUME for the data" || fail "Containerfile: no VOLUME for the data"
cmd_words=$(sed -nE 's/^CMD \[(.*)\]$/\1/p' <<<"$instructions" | tr -d '",')
read -r -a cmd_array <<<"$cmd_words"
[ "${cmd_array[0]:-}" = serve ] || fail "Containerfile: CMD must start with serve, is '${cmd_words}'"
check_flags Containerfile "${cmd_array[@]}"
grep -q 'cargo build --release' <<<"$instructions" && ok "Containerfile: cargo build --release" || fail "Containerfile: no cargo build --release"
bin_name=$(sed -nE 's/.*--bin ([A-Za-z0-9_-]+).*/\1/p' <<<"$instructions" | head -n 1)
grep -q "^name = \"$bin_name\"" crates/server/Cargo.toml && ok "Containerfile: --bin $bin_name is the server's binary" \
  || fail "Containerfile: --bin '$bin_name' is not a [[bin]] of crates/server"
want=$(sed -nE 's/^rust-version = "([0-9.]+)"/\1/p' Cargo.toml)
have=$(sed -nE 's/^FROM [^ ]*rust:([0-9]+\.[0-9]+)[^ ]* .*/\1/p' <<<"$instructions" | head -n 1)
if [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n 1)" = "$want" ]; then
  ok "Containerfile: builder Rust $have >= rust-version $want"
else
  fail "Containerfile: builder image's Rust '${have:-unpinned}' is older than the workspace's rust-version $want"
fi
grep -qx 'target' .dockerignore 2>/dev/null && ok ".dockerignore keeps target/ out of the build context" \
  || fail ".dockerignore must exclude target (the build context is the repository root)"

# ---- a real build where an engine runs ----------------------------------------------------
engine=""
if command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1; then engine=podman
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then engine=docker; fi
if [ -n "$engine" ] && [ "${DEPLOY_CHECK_BUILD:-0}" = 1 ]; then
  "$engine" build -f "$CONTAINERFILE" -t yealink-prov:check . && ok "$engine build" || fail "$engine build failed"
else
  echo "skipped: image build (${engine:-no container engine running here}; DEPLOY_CHECK_BUILD=1 builds where one runs)"
fi

if ((failures > 0)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all deployment checks passed"
