#!/usr/bin/env bash
# Build times of two revisions side by side, in the same run: how long `cargo build` (dev
# profile, the `yealink-prov` binary) takes
#   - after `cargo clean` of the workspace's own crates (dependencies stay built),
#   - after an edit in a web UI page (admin/ui/pages/devices.rs),
#   - after an edit in the service layer (core's service.rs).
# Each edit adds a constant whose value changes every round, so the compiler sees a real
# change. Rounds alternate between the revisions so that noise hits both alike.
#
#   bench/build-time.sh [--before REV] [--after REV] [--rounds 3] [--keep-work]
#
# A benchmark, not a test: it builds in throwaway git worktrees and two target folders under
# /tmp (a few GB each; the first build compiles every dependency) and removes them on exit.
# See docs/benchmarks.md, "Build times".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BEFORE=HEAD~1
AFTER=HEAD
ROUNDS=3
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --before) BEFORE=$2; shift 2 ;;
    --after) AFTER=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --keep-work) KEEP=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d /tmp/yp-build-time.XXXXXX)
cleanup() {
  if [ "$KEEP" = 0 ]; then
    for name in before after; do
      git -C "$ROOT" worktree remove --force "$WORK/$name" 2>/dev/null || true
    done
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# The file holding the service layer at a revision: crates/core/src/service.rs once the core
# is its own crate, crates/server/src/core/service.rs before.
service_file() {
  for f in crates/core/src/service.rs crates/server/src/core/service.rs crates/server/src/service.rs; do
    [ -f "$1/$f" ] && { echo "$f"; return; }
  done
  echo "no service.rs in $1" >&2
  exit 1
}

ui_file() {
  for f in crates/server/src/admin/ui/pages/devices.rs crates/server/src/ui/pages.rs; do
    [ -f "$1/$f" ] && { echo "$f"; return; }
  done
  echo "no UI page file in $1" >&2
  exit 1
}

our_crates() {
  (cd "$1" && cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(" ".join("-p " + p["name"] for p in json.load(sys.stdin)["packages"]))')
}

seconds_of() {
  local dir=$1 started
  started=$(date +%s.%N)
  (cd "$dir" && CARGO_TARGET_DIR="$WORK/target-$(basename "$dir")" cargo build -q -p yealink-prov --bin yealink-prov 2>/dev/null)
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$started" "$(date +%s.%N)"
}

# Adds `const BUILD_PROBE_<n>` at the end of a file (the previous round's is replaced).
probe() {
  local file=$1 n=$2
  sed -i '/^#\[allow(dead_code)\] const BUILD_PROBE/d' "$file"
  printf '#[allow(dead_code)] const BUILD_PROBE: u32 = %s;\n' "$n" >>"$file"
}

# Both revisions start from one fresh target folder, built once (dependencies included) and
# then copied: never from links into the main checkout's target, whose files cargo and rustc
# would then rewrite in place (workspace crates get the same file names in any checkout).
for name in before after; do
  rev=$BEFORE
  [ "$name" = after ] && rev=$AFTER
  git -C "$ROOT" worktree add -q --detach "$WORK/$name" "$rev"
done
echo "building the dependencies once ($(git -C "$WORK/before" rev-parse --short HEAD))" >&2
seconds_of "$WORK/before" >/dev/null
cp -a "$WORK/target-before" "$WORK/target-after"
echo "warming after ($(git -C "$WORK/after" rev-parse --short HEAD))" >&2
seconds_of "$WORK/after" >/dev/null

printf 'round\trevision\tclean (our crates)\tUI edit\tcore edit\n'
for round in $(seq 1 "$ROUNDS"); do
  for name in before after; do
    dir="$WORK/$name"
    # shellcheck disable=SC2046
    (cd "$dir" && CARGO_TARGET_DIR="$WORK/target-$name" cargo clean -q $(our_crates "$dir"))
    clean=$(seconds_of "$dir")
    probe "$dir/$(ui_file "$dir")" "$round"
    ui=$(seconds_of "$dir")
    probe "$dir/$(service_file "$dir")" "$round"
    core=$(seconds_of "$dir")
    printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$clean" "$ui" "$core"
  done
done
