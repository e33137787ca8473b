#!/bin/sh
# Lifecycle benchmark: create + start + wait + delete of `true` in a busybox
# bundle, side by side in one hyperfine run: orc, runc, crun, and the floor
# (`unshare` of the same namespaces + exec, no runtime at all).
#
# crun refuses this host's hybrid cgroup layout, so every contender runs in a
# private mount namespace where /sys/fs/cgroup/unified is unmounted: the same
# wrapper for all, so the comparison stays fair.
#
# Usage (root): cargo build --release -p orc-container && 01-container/benches/bench.sh
set -eu

here=$(cd "$(dirname "$0")/../.." && pwd)
orc=${ORC:-$here/target/release/orc-container}
[ -x "$orc" ] || { echo "build first: cargo build --release -p orc-container" >&2; exit 1; }
for tool in hyperfine runc crun unshare; do
    command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bundle=$work/bundle
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/sys" "$bundle/rootfs/dev"
cp /bin/busybox "$bundle/rootfs/bin/"
ln -s busybox "$bundle/rootfs/bin/true"
ln -s busybox "$bundle/rootfs/bin/sh"
"$orc" spec --bundle "$bundle"
sed -i 's/"sh"/"true"/' "$bundle/config.json"

# Each run needs a fresh container id: $$ of the wrapper shell is unique.
unshare -m sh -c "
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    hyperfine --warmup 5 --runs ${RUNS:-100} -N --export-json $work/result.json \
        -n orc   \"sh -c '$orc --root $work/orc run b\\\$\\\$ --bundle $bundle'\" \
        -n runc  \"sh -c 'runc --root $work/runc run --bundle $bundle b\\\$\\\$'\" \
        -n crun  \"sh -c 'crun --root $work/crun run --bundle $bundle b\\\$\\\$'\" \
        -n floor \"sh -c 'unshare -fpmiun --cgroup chroot $bundle/rootfs /bin/true'\"
"

# Ratios of mean times, the numbers the issue asks for.
python3 - "$work/result.json" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
for k, v in r.items():
    print(f"{k:6} {v*1000:7.2f} ms")
print(f"orc/crun  = {r['orc']/r['crun']:.2f}  (target <= 0.9)")
print(f"orc/runc  = {r['orc']/r['runc']:.2f}")
print(f"orc/floor = {r['orc']/r['floor']:.2f}  (target <= 4)")
PY
