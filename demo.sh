#!/usr/bin/env bash
# A guided tour of orc: `orc up` starts a two-node cluster on this machine,
# then the seeds' two walkthroughs run on it, each kubectl command printed
# as you would type it, then its real output:
#
# - Kubernetes 101: the echo server (echoserver:1.4) as a Deployment,
#   reached through `kubectl port-forward` and a NodePort, scaled to 3,
#   its log, then deleted;
# - Hello Minikube: hello-node:v1 behind a LoadBalancer Service, updated
#   to v2 and rolled back, and the Deployment's events.
#
# The images are built on the nodes from orc's shipped recipes the first
# time a pod names them (final/recipes/); no registry is asked.
#
# The cluster is left running, with its context in your kubeconfig, so
# that plain `kubectl` works after the tour; it ends with what to type
# next. Needs root.
#
#   sudo ./demo.sh                        # in a terminal: pauses before each step
#   sudo ./demo.sh </dev/null             # straight through (and always when CI is set)
#   sudo ./demo.sh --and-down             # takes the cluster down at the end (or on failure, Ctrl-C)
#   sudo ./demo.sh --data-dir D --kubeconfig K   # a cluster of its own: /var/lib/orc
#                                         # and ~/.kube/config are not touched
#   sudo ORC=target/debug/orc ./demo.sh   # an orc already built
set -Eeuo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"

usage() {
  cat <<'EOF'
usage: sudo ./demo.sh [--and-down] [--data-dir DIR] [--kubeconfig FILE] [--nodes N]

  --and-down         take the cluster down (orc down --purge) at the end, and
                     on a failure or Ctrl-C; without it the cluster stays up
  --data-dir DIR     the cluster's data (default: /var/lib/orc, orc up's)
  --kubeconfig FILE  where orc up writes the cluster's context (default:
                     $KUBECONFIG, else ~/.kube/config, as kubectl looks)
  --nodes N          how many nodes (default: 2)

ORC=PATH uses an orc already built (else: scripts/setup.sh, then a release
build). In a terminal the tour pauses before each step; with stdin not a
terminal, or CI set, it runs straight through.
EOF
}

# The tour's own command line, for the advice it gives.
again="$(printf '%q ' ./demo.sh "$@")"
again="${again% }"
and_down=false
data_dir=/var/lib/orc
kubeconfig=""
nodes=2
while [ $# -gt 0 ]; do
  case "$1" in
    --and-down) and_down=true ;;
    --data-dir | --kubeconfig | --nodes)
      if [ $# -lt 2 ] || [ -z "$2" ]; then
        echo "demo.sh: $1 needs a value (see --help)" >&2
        exit 2
      fi
      case "$1" in
        --data-dir) data_dir="$2" ;;
        --kubeconfig) kubeconfig="$2" ;;
        --nodes) nodes="$2" ;;
      esac
      shift
      ;;
    --data-dir=*) data_dir="${1#*=}" ;;
    --kubeconfig=*) kubeconfig="${1#*=}" ;;
    --nodes=*) nodes="${1#*=}" ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "demo.sh: unknown argument ${1@Q} (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done
if [[ ! "$nodes" =~ ^[1-9][0-9]*$ ]]; then
  echo "demo.sh: --nodes takes a number of nodes, 1 or more, not ${nodes@Q}" >&2
  exit 2
fi
data_dir="$(realpath -m "$data_dir")"

if [ -z "${ORC:-}" ]; then
  ./scripts/setup.sh
  cargo build --quiet --release --locked --package orc
  ORC="$PWD/target/release/orc"
fi
ORC="$(realpath "$ORC")"
# How the tour shows orc: `orc` when that is the one on PATH, else its
# path from here (`target/release/orc`), as you would type it.
if [ "$(command -v orc 2>/dev/null || true)" = "$ORC" ]; then
  orc_shown=orc
else
  orc_shown="$(realpath --relative-base="$PWD" "$ORC")"
fi
# What every orc command of the tour adds: only what differs from orc's
# defaults.
orc_flags=()
[ "$data_dir" = /var/lib/orc ] || orc_flags+=(--data-dir "$data_dir")
if [ -n "$kubeconfig" ]; then
  kubeconfig="$(realpath -m "$kubeconfig")"
  # Plain `kubectl`, as the tour shows it, then uses this file.
  export KUBECONFIG="$kubeconfig"
fi

# Pauses only when a person is there to press Enter.
interactive() { [ -t 0 ] && [ -z "${CI:-}" ]; }

# shown CMD...: the command as you would type it (orc by its path, words
# quoted where the shell needs it).
shown() {
  local out="" word
  for word in "$@"; do
    if [ "$word" = "$ORC" ]; then
      word="$orc_shown"
    elif [[ "$word" =~ ^(--[a-z-]+=)(.*[^A-Za-z0-9_./=:,@%+-].*)$ ]]; then
      # A flag's value alone: --for=jsonpath='{...}'.
      word="${BASH_REMATCH[1]}${BASH_REMATCH[2]@Q}"
    elif [[ ! "$word" =~ ^[A-Za-z0-9_./=:,@%+-]+$ ]]; then
      word="${word@Q}"
    fi
    out+="$word "
  done
  printf '%s' "${out% }"
}

# A cluster already up on the data directory is left alone: the tour says
# what it found and what to do, and stops.
if [ -e "$data_dir/up.json" ]; then
  {
    echo "demo.sh: a cluster is already up on $data_dir; the tour needs one of its own."
    echo "Its components, as \`$(shown "$ORC" status "${orc_flags[@]}")\` shows them:"
    "$ORC" status --data-dir "$data_dir" 2>&1 | sed 's/^/  /' || true
    echo "Either take it down (--purge also forgets its objects), then run the tour again:"
    echo "  sudo $(shown "$ORC" down --purge "${orc_flags[@]}") && sudo $again"
    echo "or start the tour's cluster beside it, in a directory and kubeconfig of its own:"
    echo "  sudo ./demo.sh --data-dir /tmp/orc-tour --kubeconfig /tmp/orc-tour.kubeconfig"
  } >&2
  exit 1
fi
if [ -n "$(ls -A "$data_dir" 2>/dev/null)" ]; then
  {
    echo "demo.sh: $data_dir holds a cluster that is down (its objects are kept:"
    echo "\`$(shown "$ORC" up "${orc_flags[@]}")\` brings it back). The tour starts from an empty cluster:"
    echo "  sudo $(shown "$ORC" down --purge "${orc_flags[@]}")    # forgets that cluster, then run the tour again"
    echo "or give the tour a directory of its own:"
    echo "  sudo ./demo.sh --data-dir /tmp/orc-tour --kubeconfig /tmp/orc-tour.kubeconfig"
  } >&2
  exit 1
fi

step=0
title="getting ready"
# step TITLE WHY...: a heading and why this step matters.
step() {
  step=$((step + 1))
  if interactive && [ "$step" -gt 1 ]; then
    read -rp $'\n[Enter] for the next step ' _
  fi
  title="$1"
  printf '\n== %d. %s\n' "$step" "$1"
  shift
  printf '   %s\n' "$@"
}

# The command the tour stopped at, for its last words.
failed=""

# run CMD...: shows the command, then runs it.
run() {
  printf '\n$ %s\n' "$(shown "$@")"
  "$@" || {
    local status=$?
    failed="$(shown "$@") (exit status $status)"
    return "$status"
  }
}

# run_until WHAT SECONDS PATTERN CMD...: shows the command, then runs it
# once a second until it succeeds and prints a line matching the extended
# regular expression PATTERN (what a Service's rules, programmed by every
# node's proxy a moment after kubectl returns, take to answer), and shows
# that output. Past SECONDS, the step fails with the last output.
run_until() {
  local what="$1" limit="$2" pattern="$3" out="" i
  shift 3
  printf '\n$ %s\n' "$(shown "$@")"
  for ((i = 0; i < limit; i++)); do
    if out="$("$@" 2>&1)" && grep -Eq -- "$pattern" <<<"$out"; then
      printf '%s\n' "$out"
      return 0
    fi
    sleep 1
  done
  printf '%s\n' "$out"
  failed="$(shown "$@"), waiting for $what (not within ${limit}s)"
  return 1
}

# The cluster: started by this tour (so taken down by --and-down), and
# whether the tour got to its end.
started=false
finished=false
forwarder=""
finish() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$forwarder" ]; then
    kill "$forwarder" 2>/dev/null || true
  fi
  if ! $finished; then
    echo >&2
    echo "demo.sh: step $step ($title) did not finish (exit status $status)." >&2
    [ -z "$failed" ] || echo "It stopped at: $failed" >&2
    if $started && $and_down; then
      # They go with the data directory: their ends, for the record.
      local log
      for log in "$data_dir"/logs/*.log; do
        [ -e "$log" ] || continue
        echo "---- the last lines of $log" >&2
        tail -n 20 "$log" >&2
      done
    elif $started; then
      echo "The components' logs are in $data_dir/logs." >&2
    fi
  fi
  if $started && $and_down; then
    echo
    echo "== --and-down: $(shown "$ORC" down --purge "${orc_flags[@]}")"
    "$ORC" down --purge --data-dir "$data_dir" || status=1
  elif $started && ! $finished; then
    echo "The cluster is still up: \`sudo $(shown "$ORC" down --purge "${orc_flags[@]}")\` removes it." >&2
  fi
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A failed command the tour did not show names itself.
trap '[ -n "$failed" ] || failed="\`$BASH_COMMAND\`"' ERR

step "A cluster on this machine" \
  "orc up starts etcd, the API server, the scheduler and the controllers," \
  "and one agent per node (its proxy, DNS and ingress with it); each node" \
  "is a network namespace with its own address. It adds a context to your" \
  "kubeconfig, so the kubectl commands below are the ones you would type."
up_flags=(--nodes "$nodes" --detach)
[ -z "$kubeconfig" ] || up_flags+=(--kubeconfig "$kubeconfig")
started=true
run "$ORC" up "${up_flags[@]}" "${orc_flags[@]}"
run kubectl get nodes -o wide

step "Kubernetes 101: a Deployment of the echo server" \
  "echoserver:1.4 answers on port 8080 with the request it got. No node has" \
  "the image yet: the one the scheduler picks builds it from orc's recipe" \
  "(final/recipes/echoserver.yaml), as its events say."
run kubectl create deployment hello --image=echoserver:1.4 --port=8080
run kubectl rollout status deployment/hello --timeout=180s
run kubectl get deployments
run kubectl get pods
pod="$(kubectl get pods -l app=hello -o jsonpath='{.items[0].metadata.name}')"
run kubectl describe pod "$pod"

step "Reach it through port-forward" \
  "kubectl port-forward listens on this machine and carries each connection" \
  "through the API server and the pod's node to the pod's port 8080."
# kubectl picks a free local port when 8080 is taken.
local_port=8080
if [ -n "$(ss -Hltn 'sport = :8080')" ]; then local_port=""; fi
printf '\n$ %s &\n' "$(shown kubectl port-forward "$pod" "$local_port:8080")"
coproc FORWARD { exec kubectl port-forward "$pod" "$local_port:8080" 2>&1; }
forwarder="$FORWARD_PID"
# Its first line says where it listens, once it does.
line=""
while [[ "$line" != "Forwarding from 127.0.0.1:"* ]]; do
  if ! IFS= read -r -t 60 -u "${FORWARD[0]}" line; then
    failed="kubectl port-forward (it did not say it was forwarding; last: ${line@Q})"
    false
  fi
  printf '%s\n' "$line"
done
local_port="${line#Forwarding from 127.0.0.1:}"
local_port="${local_port%% *}"
run curl -sS "http://localhost:$local_port/kubernetes-101"
printf '\n$ kill %%1    # the port-forward\n'
kill "$forwarder"
wait "$forwarder" || true
forwarder=""

step "Expose it as a NodePort Service" \
  "Every node's proxy opens the same port on its node's address and" \
  "forwards it to the pods; any node's address will do."
run kubectl expose deployment hello --type=NodePort --port=8080
run kubectl get service hello
run kubectl get nodes -o wide
node_ip="$(kubectl get nodes -o jsonpath='{.items[0].status.addresses[?(@.type=="InternalIP")].address}')"
node_port="$(kubectl get service hello -o jsonpath='{.spec.ports[0].nodePort}')"
run_until "an answer through the NodePort" 60 'real path=/node-port' \
  curl -sS "http://$node_ip:$node_port/node-port"

step "Scale it to 3" \
  "The Deployment's ReplicaSet makes two more pods; the scheduler spreads" \
  "them over the nodes."
run kubectl scale deployment hello --replicas=3
run kubectl rollout status deployment/hello --timeout=180s
run kubectl get deployment hello
run kubectl get pods -o wide

step "Its log" \
  "The agent of the pod's node keeps what the container writes; the echo" \
  "server writes one line per request: here, the port-forward's."
run kubectl logs "$pod"

step "Delete it" \
  "The Service goes, and the Deployment with its ReplicaSet and pods."
run kubectl delete service hello
run kubectl delete deployment hello

step "Hello Minikube: a Deployment of hello-node" \
  "hello-node:v1 is a Node.js server answering \"Hello World!\", built on its" \
  "node from final/recipes/hello-node-v1.yaml (your Node.js, copied in)."
run kubectl create deployment hello-node --image=hello-node:v1
run kubectl rollout status deployment/hello-node --timeout=180s
run kubectl get deployments
run kubectl get pods

step "Expose it as a LoadBalancer Service" \
  "With no cloud, orc's load-balancer controller gives the Service the" \
  "Ready nodes' addresses as its EXTERNAL-IP (as k3s' ServiceLB does), and" \
  "every node's proxy answers on the Service's port there."
run kubectl expose deployment hello-node --type=LoadBalancer --port=8080
run kubectl wait --for=jsonpath='{.status.loadBalancer.ingress}' service/hello-node --timeout=60s
run kubectl get services
lb_ip="$(kubectl get service hello-node -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
run_until "\"Hello World!\" through the LoadBalancer" 60 '^Hello World!$' \
  curl -sS "http://$lb_ip:8080"

step "Update it to v2" \
  "kubectl set image changes the pod template: the Deployment makes a new" \
  "ReplicaSet and moves the replica over (a rolling update). v2's answer" \
  "says so."
run kubectl set image deployment/hello-node hello-node=hello-node:v2
run kubectl rollout status deployment/hello-node --timeout=180s
# The old pod may answer for a moment, until every proxy drops it.
run_until "v2's answer" 60 'This is v2' curl -sS "http://$lb_ip:8080"

step "Roll it back" \
  "rollout undo puts the previous template back: v1's ReplicaSet scales up" \
  "again, v2's down."
run kubectl rollout undo deployment/hello-node
run kubectl rollout status deployment/hello-node --timeout=180s
run_until "v1's answer again" 60 '^Hello World!$' curl -sS "http://$lb_ip:8080"
run kubectl get events --field-selector involvedObject.name=hello-node --sort-by=.lastTimestamp

finished=true
next_kubeconfig=""
[ -z "$kubeconfig" ] || next_kubeconfig="export KUBECONFIG=${kubeconfig@Q}    # the tour's kubeconfig"
if $and_down; then
  printf '\n== What to type next, on the cluster the tour leaves up without --and-down:\n'
else
  printf '\n== The cluster is still up. What to type next:\n'
fi
cat <<EOF
${next_kubeconfig:+  $next_kubeconfig
}  kubectl get pods -o wide              # hello-node's pod, its address and its node
  kubectl get services                  # hello-node's EXTERNAL-IP: the nodes' addresses
  kubectl rollout history deployment/hello-node   # the revisions undo moved between
  sudo $(shown "$ORC" status "${orc_flags[@]}")    # each component's /healthz
  sudo $(shown "$ORC" down "${orc_flags[@]}")      # stops it all; --purge also removes $data_dir
The book (chapters/) explains each part; README.md lists the rest.
EOF
