#!/usr/bin/env bash
# A guided tour of orc: a two-node cluster on this machine, an app on it
# (a Deployment, scaled, behind a Service, a DNS name and an Ingress), a
# look inside it (exec, logs), then a node that dies and comes back.
# Needs root.
#
#   sudo ./demo.sh              # in a terminal: pauses before each step
#   sudo ./demo.sh </dev/null   # straight through (and always when CI is set)
#   sudo ORC=target/debug/orc ./demo.sh   # an orc already built
#
# Each step says what it runs and why, then runs it. The cluster lives in a
# temporary data directory and its own kubeconfig (your ~/.kube/config is
# not touched), and `orc down --purge` removes it at the end, or on Ctrl-C.
# `orc demo` is the older single-process demo (a container, then the API
# server with kubectl).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"

if [ -z "${ORC:-}" ]; then
  ./scripts/setup.sh
  cargo build --quiet --release --locked --package orc
  ORC="$PWD/target/release/orc"
fi
ORC="$(realpath "$ORC")"

TOUR="$(mktemp -d /tmp/orc-tour.XXXXXX)"
DATA="$TOUR/data"
export KUBECONFIG="$TOUR/kubeconfig"
finish() {
  echo
  echo "== cleaning up: orc down --purge"
  "$ORC" down --purge --data-dir "$DATA" >/dev/null 2>&1 || true
  rm -rf "$TOUR"
}
trap finish EXIT

# Pauses only when a person is there to press Enter.
interactive() { [ -t 0 ] && [ -z "${CI:-}" ]; }

step=0
# step TITLE WHY...: a heading and why this step matters.
step() {
  step=$((step + 1))
  if interactive && [ "$step" -gt 1 ]; then
    read -rp $'\n[Enter] for the next step ' _
  fi
  printf '\n== %d. %s\n' "$step" "$1"
  shift
  printf '   %s\n' "$@"
}

# run CMD...: shows the command (orc as plain `orc`, words quoted where
# the shell needs it), then runs it.
run() {
  local shown="" word
  for word in "$@"; do
    if [ "$word" = "$ORC" ]; then
      word=orc
    elif [[ ! "$word" =~ ^[A-Za-z0-9_./=:,@%+-]+$ ]]; then
      word="${word@Q}"
    fi
    shown+="$word "
  done
  printf '\n$ %s\n' "${shown% }"
  "$@"
}

# until_true WHAT SECONDS CMD...: polls CMD once a second until it succeeds.
until_true() {
  local what="$1" limit="$2"
  shift 2
  for ((i = 0; i < limit; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "demo.sh: $what did not happen within ${limit}s; the logs are in $DATA/logs" >&2
  exit 1
}

orc() { run "$ORC" "$@" --data-dir "$DATA"; }

step "A cluster on this machine" \
  "orc up starts etcd, the API server, the scheduler and the controllers," \
  "and one agent per node; each node is a network namespace with its own" \
  "address. The node periods are shortened (Kubernetes: a 10s lease, 50s" \
  "of grace) so that step 8 takes seconds, not minutes."
orc up --nodes 2 --detach --kubeconfig "$KUBECONFIG" \
  --node-lease-period 1s --node-monitor-grace-period 5s --node-monitor-period 1s
run kubectl get nodes -o wide

step "A Deployment" \
  "Two replicas of a busybox web server that answers with its pod's name." \
  "The scheduler places them; each node's agent starts its containers." \
  "They tolerate an unreachable node for 5s (300s unless a pod says so)."
read -r -d '' deployment <<'EOF' || true
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      containers:
      - name: web
        image: busybox
        ports: [{containerPort: 8080}]
        command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && echo "serving $(hostname) on :8080" && exec httpd -f -v -p 8080 -h /www']
EOF
printf '\n%s\n' "$deployment"
run kubectl apply -f - <<<"$deployment"
run kubectl rollout status deployment/hello --timeout=120s
run kubectl get pods -o wide

step "Scale it" \
  "The Deployment's ReplicaSet makes one more pod to match the new count."
run kubectl scale deployment hello --replicas=3
run kubectl rollout status deployment/hello --timeout=120s
run kubectl get pods -o wide

step "A Service, and its name in the cluster DNS" \
  "A ClusterIP Service balances over the ready pods (each node's proxy" \
  "writes the iptables rules); the cluster DNS answers its name. A client" \
  "pod asks the name three times (with busybox nc: the static busybox's" \
  "wget crashes on a lookup)."
run kubectl expose deployment hello --port=80 --target-port=8080
run kubectl run client --image=busybox --restart=Never -- sleep 3600
run kubectl wait --for=condition=Ready pod/client --timeout=120s
run kubectl exec client -- nslookup hello.default.svc.cluster.local
for _ in 1 2 3; do
  run kubectl exec client -- sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc hello 80 | tail -n 1'
done

step "An Ingress" \
  "Every node's ingress serves HTTP on its port 80 and routes by host and" \
  "path to the Service. From this machine, any node's address will do."
run kubectl create ingress hello --rule='hello.test/*=hello:80'
until_true "the Ingress's address" 60 \
  test -n "$(kubectl get ingress hello -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
run kubectl get ingress hello
node_ip="$(kubectl get ingress hello -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
until_true "an answer through the ingress" 60 \
  curl -sf -H 'Host: hello.test' "http://$node_ip/"
run curl -s -H 'Host: hello.test' "http://$node_ip/"

step "Inside a pod, and its log" \
  "exec and logs go from kubectl to the API server, then to the agent of" \
  "the pod's node, which asks the container."
pod="$(kubectl get pods -l app=hello -o jsonpath='{.items[0].metadata.name}')"
run kubectl exec "$pod" -- ps
run kubectl logs "$pod"

step "A node dies" \
  "orc node stop kills a node's agent, as a crashed kubelet: its pods run on," \
  "but the node's Lease is no longer renewed. After the grace period the" \
  "node lifecycle controller marks it NotReady and taints it unreachable."
victim="$(kubectl get pods -l app=hello -o jsonpath='{.items[0].spec.nodeName}')"
orc node stop "$victim"
run kubectl wait --for=condition=Ready=Unknown "node/$victim" --timeout=60s
run kubectl get nodes
run kubectl get node "$victim" -o jsonpath='{range .spec.taints[*]}{.key}:{.effect}{"\n"}{end}'

step "Its pods are evicted and replaced" \
  "Once their 5s toleration runs out, taint eviction deletes the pods of the" \
  "dead node. They stay Terminating, since only their node can confirm" \
  "they stopped; the ReplicaSet replaces them on the live node meanwhile."
# Gone: no pod of the dead node is left without a deletion timestamp.
gone() {
  local stamps
  stamps="$(kubectl get pods -l app=hello --field-selector "spec.nodeName=$victim" \
    -o jsonpath='{range .items[*]}[{.metadata.deletionTimestamp}]{"\n"}{end}')"
  ! grep -qx '\[\]' <<<"$stamps"
}
until_true "the eviction" 60 gone
run kubectl rollout status deployment/hello --timeout=120s
run kubectl get pods -o wide
run kubectl get events --field-selector reason=TaintManagerEviction

step "The node comes back" \
  "orc node start runs the agent again with its flags: it renews the Lease," \
  "the node is Ready and untainted, and it stops the evicted pods, which" \
  "disappear."
orc node start "$victim"
terminating() { [ -z "$(kubectl get pods -l app=hello --field-selector "spec.nodeName=$victim" -o name)" ]; }
until_true "the evicted pods' end" 60 terminating
run kubectl get nodes
run kubectl get pods -o wide

step "Down" \
  "orc down stops the agents (and their pods), the control plane and etcd," \
  "and removes the nodes' namespaces: the machine is as it was."
orc status
orc down --purge
trap - EXIT
rm -rf "$TOUR"
echo
echo "That was orc. The book (chapters/) explains each part; README.md lists the rest."
