#!/usr/bin/env bash
# Installs and checks everything orc needs, on a fresh Debian or Ubuntu machine.
#
# Called by ./demo.sh and ./test.sh; safe to run again and again. It is quiet
# when everything is in place and says what it installs when it installs.
# It stops with a message that says what is missing and how to get it when
# something cannot be fixed from here (a kernel feature, the Rust toolchain).
set -euo pipefail

say() { printf 'setup: %s\n' "$*" >&2; }
fail() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  fail "orc creates namespaces, mounts, cgroups and network links, which needs root.
       Re-run as root, for example: sudo $0 (or sudo ./test.sh, sudo ./demo.sh)"
fi

# ---- Debian packages --------------------------------------------------------
# One line per tool: the command we look for, then the package that brings it
# ("-" when only the package itself tells: busybox must be the static build,
# because it runs inside containers that have no libc). Later chapters add
# their tools here.
# ANCHOR: packages
packages=(
  "etcd:etcd-server"             # the store behind the API server (chapter 03)
  "etcdctl:etcd-client"          # to look at etcd keys in the book and labs
  "protoc:protobuf-compiler"     # etcd-client's build generates gRPC code
  "-:libprotobuf-dev"            # the google/protobuf/*.proto files it imports
  "ip:iproute2"                  # links, addresses, routes, network namespaces
  "iptables:iptables"            # masquerade (02) and service rules (06)
  "-:busybox-static"             # a static userland for test container images
  "runc:runc"                    # the peer runtime chapter 01 is compared with
  "crun:crun"                    # the fastest peer runtime, for the benchmark
  "hyperfine:hyperfine"          # side-by-side benchmarks
  "wrk:wrk"                      # HTTP load for the data-path benchmark (06)
  "curl:curl"                    # talking to the API server in the book and labs
  "unshare:util-linux"           # the benchmark floor: bare namespaces + exec
  "cc:gcc"                       # crates that build C code
  "skopeo:skopeo"                # a second image tool, to check chapter 01's store
  "docker-registry:docker-registry" # a real registry on loopback, for pulls
  "htpasswd:apache2-utils"       # that registry's basic-auth password file
  "openssl:openssl"              # test certificates for the API server's TLS
  "python3:python3"              # test.sh's report: slowest and flaky tests
  "node:nodejs"                  # runs hello-node, the Hello Minikube app (08)
  "redis-server:redis-server"    # the guestbook's Redis leader and followers (08)
)
# ANCHOR_END: packages
# The tests' own: ./test.sh runs the cgroup tests again in a cgroup-v2-only
# VM (scripts/vm), QEMU booting Debian's kernel with a busybox initramfs.
if [ "${1:-}" = --for-tests ]; then
  packages+=(
    "qemu-system-x86_64:qemu-system-x86"
    "cpio:cpio"                  # packs that VM's initramfs
  )
fi
missing=()
for entry in "${packages[@]}"; do
  tool=${entry%%:*} package=${entry#*:}
  if [ "$tool" = - ]; then
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep 'ok installed' >/dev/null || missing+=("$package")
  else
    command -v "$tool" >/dev/null 2>&1 || missing+=("$package")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || fail "apt-get update failed; check the package mirror in /etc/apt/sources.list"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "could not install ${missing[*]} with apt-get; install them by hand and re-run"
  # Debian's redis-server package starts a system Redis where an init
  # system runs; orc only needs the program, copied into the guestbook's
  # images. Stopped and disabled again when this script installed it.
  if [[ " ${missing[*]} " == *" redis-server "* ]] \
    && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
fi

# ---- The benchmarks' peers (chapters 06 and 07) ---------------------------
# nginx and HAProxy, beside which `cargo bench -p orc-ingress --bench nginx`
# measures orc's proxy (the bench starts its own copies in a network
# namespace), and dnsperf and dnsmasq, beside which `cargo bench -p
# orc-services --bench dns` measures orc-dns. Where an init system runs, Debian's packages also start a system
# service on port 80, the port orc's ingress serves: when this script is the
# one that installs them, it stops and disables those services again.
bench=()
command -v nginx >/dev/null 2>&1 || bench+=(nginx-light)
command -v haproxy >/dev/null 2>&1 || bench+=(haproxy)
command -v dnsperf >/dev/null 2>&1 || bench+=(dnsperf)
command -v dnsmasq >/dev/null 2>&1 || bench+=(dnsmasq-base)
if [ ${#bench[@]} -gt 0 ]; then
  say "installing ${bench[*]} (the benchmarks' peers)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || fail "apt-get update failed; check the package mirror in /etc/apt/sources.list"
  apt-get install -y -qq --no-install-recommends "${bench[@]}" >/dev/null \
    || fail "could not install ${bench[*]} with apt-get; install them by hand and re-run"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now nginx haproxy >/dev/null 2>&1 || true
  fi
fi

# ---- Docker, for grading labs in sandbox containers (tests only) ----------
if [ "${1:-}" = --for-tests ]; then
  if ! command -v docker >/dev/null 2>&1; then
    say "installing docker.io (instructors grade labs inside containers)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null \
      || fail "could not install docker.io; install Docker Engine by hand and re-run"
  fi
  if ! docker info >/dev/null 2>&1; then
    (service docker start || systemctl start docker || (dockerd >/var/log/orc-dockerd.log 2>&1 &)) >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 \
      || fail "the Docker engine is not running and could not be started: start it (systemctl start docker) and re-run"
  fi
fi

# ---- kubectl, which the tests drive against orc (no Debian package has it) --
if [ "${1:-}" = --for-tests ] && ! command -v kubectl >/dev/null 2>&1; then
  fail "kubectl is missing: the tests drive the real kubectl (v1.32 or near) against orc; install it from https://kubernetes.io/docs/tasks/tools/ and re-run"
fi

# ---- Rust and the book tool --------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null 2>&1 \
  || fail "cargo is missing: install Rust 1.85 or newer (https://rustup.rs), then re-run"
MDBOOK_VERSION=0.5.4
if ! mdbook --version 2>/dev/null | grep "v$MDBOOK_VERSION" >/dev/null; then
  say "installing mdbook $MDBOOK_VERSION (builds the book in chapters/; takes a minute or two)"
  cargo install --quiet --locked --no-default-features mdbook --version "$MDBOOK_VERSION" \
    || fail "could not install mdbook with cargo install"
fi
# The test runner behind ./test.sh: a process and a timeout per test.
if [ "${1:-}" = --for-tests ] && ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest (runs the tests; takes a few minutes)"
  cargo install --quiet --locked cargo-nextest \
    || fail "could not install cargo-nextest with cargo install"
fi

# ---- Kernel features ---------------------------------------------------------
for ns in pid mnt uts ipc net cgroup user; do
  [ -e "/proc/self/ns/$ns" ] \
    || fail "the kernel has no $ns namespaces (CONFIG_${ns^^}_NS); use a kernel built with them"
done
if ! grep -qw overlay /proc/filesystems; then
  modprobe overlay 2>/dev/null || true
  grep -qw overlay /proc/filesystems \
    || fail "overlayfs is missing: load it with 'modprobe overlay' (CONFIG_OVERLAY_FS)"
fi
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  : # cgroup v2, unified
elif [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/pids ] && [ -d /sys/fs/cgroup/cpu ]; then
  : # cgroup v1 (or hybrid) with the controllers orc uses
else
  fail "no usable cgroups: mount cgroup v2 at /sys/fs/cgroup, or cgroup v1 with the memory, cpu and pids controllers"
fi
iptables -w -S >/dev/null 2>&1 \
  || fail "iptables cannot read the filter table: load netfilter ('modprobe ip_tables' or nf_tables)"
# veth pairs and bridges, probed inside a throwaway network namespace so the
# host's own links are never touched.
probe="orc-setup-$$"
if ip netns add "$probe" 2>/dev/null; then
  ok=1
  ip -n "$probe" link add orc-probe0 type veth peer name orc-probe1 2>/dev/null || ok=0
  ip -n "$probe" link add orc-probebr type bridge 2>/dev/null || ok=0
  ip netns delete "$probe"
  [ "$ok" = 1 ] || fail "the kernel cannot create veth pairs or bridges (CONFIG_VETH, CONFIG_BRIDGE): 'modprobe veth bridge'"
else
  fail "cannot create network namespaces with 'ip netns add' (is /run writable?)"
fi
