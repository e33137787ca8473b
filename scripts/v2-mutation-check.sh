#!/usr/bin/env bash
# Proves that the cgroup v2 suite catches a broken v2 write: each mutant
# below is a one-line change to the runtime's v2 backend
# (01-container/src/cgroups/v2.rs), made in a copy of this checkout, never
# here; the copy's chapter 01 tests then run in the cgroup-v2-only VM
# (scripts/vm/suite orc-container:limits) and must FAIL, on an assertion naming
# the file the mutant broke (not on a timeout or a boot failure).
#
#   sudo scripts/v2-mutation-check.sh
#
# Exit 0 when every mutant was caught, 1 when one passed the suite (the
# suite has a hole), 2 when the check itself could not run.
#
# Not part of ./test.sh or CI: each mutant is one more build of
# orc-container's limits test and one more boot (the limits binary alone
# took 155 s in the VM at a host load of 21; the whole check 47 minutes at
# load 30, mostly the build). Run it after changing the v2 backend or the
# v2 suite. The copy and its target directory are kept under
# target/v2-mutant/ (the first run seeds that target from target/debug, so
# only orc-container and what depends on it are rebuilt; later runs rebuild
# the mutated crate alone).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fail() { printf 'v2 mutation check: error: %s\n' "$*" >&2; exit 2; }
say() { printf 'v2 mutation check: %s\n' "$*" >&2; }
[ "$(id -u)" -eq 0 ] || fail "the VM needs root: sudo $0"
command -v rsync >/dev/null || fail "rsync is missing: sudo apt-get install rsync"

file=01-container/src/cgroups/v2.rs
# name | the line as it is | the line as the mutant has it | what the failure must mention
mutants=(
  'memory limit in the wrong file|files.push(("memory.max", max_or(limit)));|files.push(("memory.high", max_or(limit)));|memory.max'
  'cpu weight by the old linear formula|files.push(("cpu.weight", shares_to_weight(shares).to_string()));|files.push(("cpu.weight", (1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142).to_string()));|cpu.weight'
)

# A loaded host slows the emulated guest several times over.
export ORC_VM_TIMEOUT=${ORC_VM_TIMEOUT:-1800}
work=$root/target/v2-mutant
mkdir -p "$work"
export CARGO_TARGET_DIR=$work/target
if [ ! -d "$CARGO_TARGET_DIR/debug" ] && [ -d target/debug ]; then
  say "seeding $CARGO_TARGET_DIR from target/debug (once)"
  mkdir -p "$CARGO_TARGET_DIR"
  cp -a target/debug "$CARGO_TARGET_DIR/debug"
fi

status=0
for mutant in "${mutants[@]}"; do
  IFS='|' read -r name from to expect <<<"$mutant"
  grep -qF "$from" "$file" || fail "$file no longer has the line of mutant '$name': $from (update this script)"
  # The copy: this checkout's files as they are now (committed or not),
  # mtimes kept so cargo rebuilds only what the mutant changes.
  rsync -a --delete --exclude /target --exclude /.git ./ "$work/src/"
  mkdir -p "$work/src/target"
  ln -sfn "$root/target/vm" "$work/src/target/vm"   # the built kernel and initramfs
  python3 - "$work/src/$file" "$from" "$to" <<'EOF'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
assert text.count(old) == 1, f"{old!r} appears {text.count(old)} times"
open(path, "w").write(text.replace(old, new))
EOF
  say "mutant '$name': $file: $to"
  log=$work/$(tr ' ' '-' <<<"$name").log
  start=$SECONDS
  # (colours stripped: the guest's console is a terminal)
  if (cd "$work/src" && scripts/vm/suite orc-container:limits) 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >"$log"; then
    say "NOT CAUGHT: the v2 suite passed with mutant '$name' ($((SECONDS - start)) s; log: $log)"
    status=1
  elif grep -q "^test .* FAILED$" "$log" && grep -A15 "panicked at" "$log" | grep -qF "$expect"; then
    say "caught in $((SECONDS - start)) s: mutant '$name' fails these tests (log: $log):"
    grep "^test .* FAILED$" "$log" | sed 's/^/    /' >&2
    grep -m3 -A4 "panicked at" "$log" | sed 's/^/    /' >&2
  else
    tail -30 "$log" >&2
    say "the suite failed with mutant '$name', but not on a failed assertion about $expect (log: $log; its end is above): fix the check"
    status=2
  fi
done
[ $status -eq 0 ] && say "every mutant was caught"
exit $status
