# The testbed's real node: kubelet, containerd with runc, CNI bridge networking, kube-proxy and CoreDNS,
# running real containers. Sourced by testbed/up and testbed/down (after lib/common.sh), never run.
#
# The node lives in namespaces of its own, so that what it changes stays out of the host:
# - a network namespace, held by a `sleep` process and joined by every node process. It reaches the
#   host through one veth pair: the host end holds the API server's address, the node end the node's.
#   Pods sit on a bridge inside it. IP forwarding is turned on there only, after an nftables guard that
#   lets pod traffic go to other pods and to the API server and drops the rest; the namespace has no
#   default route and nothing is masqueraded. The host's own forwarding and rules are not touched.
# - a mount namespace (private to the node, slave to the host's), where /run, /var/lib, /var/log and
#   /opt are fresh tmpfs mounts and /var/lib/kubelet is a bind mount of the node's state: the kubelet's
#   and containerd's hard-coded paths and every volume mount vanish with the namespace.
# What still touches the host, and what `testbed/down` undoes: the kernel settings the kubelet writes
# at start (recorded before, restored after), the cgroups under /$NODE_CGROUP_ROOT in every hierarchy
# (emptied and removed), and the processes (all killed: node processes by namespace, containers by
# cgroup).

# Settings (environment): TESTBED_REAL_NODE (1; 0 runs only simulated nodes and keeps the API server on
# 127.0.0.1), TESTBED_NODE_LINK (10.87.0: the /30 between host and node), TESTBED_POD_SUBNET (10.88.0).
NODE_NAME=real-node
NODE_LINK=${TESTBED_NODE_LINK:-10.87.0}
NODE_HOST_IP=$NODE_LINK.1
NODE_IP=$NODE_LINK.2
NODE_HOST_IF=sptb-host
NODE_IF=sptb-node
NODE_BRIDGE=sptb-pods
NODE_POD_PREFIX=${TESTBED_POD_SUBNET:-10.88.0}
NODE_POD_SUBNET=$NODE_POD_PREFIX.0/24
NODE_POD_GATEWAY=$NODE_POD_PREFIX.1
NODE_CGROUP_ROOT=sparkplane-testbed
NODE_SERVICE_CIDR=10.96.0.0/16
NODE_DNS_SERVICE_IP=10.96.0.10
# Kernel settings the kubelet writes at start (pkg/kubelet/cm: setupKernelTunables).
NODE_HOST_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
# The command name of the process holding the node's namespaces (found by it even without the state).
NODE_HOLDER_NAME=sparkplane-testbed-node-holder
# The node's processes, in start order.
NODE_COMPONENTS=(node-holder containerd kubelet kube-proxy coredns)

node_enabled() { [ "${TESTBED_REAL_NODE:-1}" != 0 ]; }
node_state() { echo "$TESTBED_STATE/node"; }

# node_holder_pid: the pid of the process that holds the node's namespaces, if it is alive.
node_holder_pid() {
  local file="$TESTBED_STATE/pids/node-holder.pid" pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ "$(readlink "/proc/$pid/ns/net")" = "$(cat "$(node_state)/netns" 2>/dev/null)" ] || return 1
  echo "$pid"
}

# in_node COMMAND...: runs COMMAND in the node's network and mount namespaces.
in_node() {
  local holder
  holder=$(node_holder_pid) || die "the real node's namespaces are gone"
  nsenter --target "$holder" --net --mount -- "$@"
}

# node_render FILE: a node configuration file with the testbed's values filled in.
node_render() {
  sed -e "s|__NODE_STATE__|$(node_state)|g" -e "s|__STATE__|$TESTBED_STATE|g" -e "s|__BIN__|$bin|g" \
    -e "s|__PKI__|$TESTBED_STATE/pki|g" -e "s|__NODE_NAME__|$NODE_NAME|g" -e "s|__NODE_IP__|$NODE_IP|g" \
    -e "s|__HOST_IP__|$NODE_HOST_IP|g" -e "s|__BRIDGE__|$NODE_BRIDGE|g" -e "s|__POD_SUBNET__|$NODE_POD_SUBNET|g" \
    -e "s|__POD_CIDR__|$NODE_POD_SUBNET|g" -e "s|__POD_GATEWAY__|$NODE_POD_GATEWAY|g" \
    -e "s|__CGROUP_ROOT__|$NODE_CGROUP_ROOT|g" -e "s|__DNS_SERVICE_IP__|$NODE_DNS_SERVICE_IP|g" \
    -e "s|__APISERVER_PORT__|$apiserver_port|g" "$TESTBED_ROOT/config/node/$1"
}

# node_preflight: what the node needs from the host, checked before anything changes.
node_preflight() {
  [ "$(id -u)" -eq 0 ] || die "the real node needs root (run as root, or TESTBED_REAL_NODE=0 for simulated nodes only)"
  ensure_debian_packages nftables iproute2 util-linux
  local tool
  for tool in nft ip nsenter unshare mount; do
    command -v "$tool" >/dev/null || die "the real node needs $tool on PATH"
  done
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || die "no cgroup hierarchy mounted under /sys/fs/cgroup"
  if ip link show "$NODE_HOST_IF" >/dev/null 2>&1; then
    die "interface $NODE_HOST_IF already exists (a testbed of another state directory?); testbed/down removes it"
  fi
  local prefix
  for prefix in "$NODE_LINK" "$NODE_POD_PREFIX"; do
    if ip -o -4 addr show | grep -q " inet $prefix\." || ip -o -4 route show | grep -q "^$prefix\."; then
      die "the node's addresses ($prefix.*) are already used on this machine: set TESTBED_NODE_LINK / TESTBED_POD_SUBNET"
    fi
  done
}

# node_network_up: the node's namespaces, the veth pair, the guard, then forwarding (in that order).
node_network_up() {
  local state holder
  state=$(node_state)
  mkdir -p "$state"/{kubelet,containerd,pod-logs,cni/net.d,cni/ipam}
  # The holder: a process in new network and mount namespaces that every node process joins.
  detach /dev/null unshare --net --mount --propagation slave -- \
    bash -c "exec -a $NODE_HOLDER_NAME sleep infinity"
  holder=$!
  echo "$holder" >"$TESTBED_STATE/pids/node-holder.pid"
  local deadline=$((SECONDS + 10))
  until [ "$(readlink "/proc/$holder/ns/net" 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ]; do
    kill -0 "$holder" 2>/dev/null || die "the node's namespace holder exited"
    [ "$SECONDS" -lt "$deadline" ] || die "the node's namespaces were not created"
    sleep 0.05
  done
  readlink "/proc/$holder/ns/net" >"$state/netns"

  # Mounts private to the node.
  nsenter --target "$holder" --mount -- sh -euc "
    for dir in /run /var/lib /var/log /opt; do mount -t tmpfs -o mode=0755 testbed-node \$dir; done
    mkdir -p /var/lib/kubelet /var/log/pods /run/containerd
    mount --bind '$state/kubelet' /var/lib/kubelet
  " || die "mounting the node's private directories failed"

  # The link between host and node; the host end is the API server's address.
  ip link add "$NODE_HOST_IF" type veth peer name "$NODE_IF" netns "$holder" ||
    die "creating the veth pair $NODE_HOST_IF/$NODE_IF failed"
  ip addr add "$NODE_HOST_IP/30" dev "$NODE_HOST_IF"
  ip link set "$NODE_HOST_IF" up
  # The API server reaches pods (proxy, webhooks) through the node.
  ip route add "$NODE_POD_SUBNET" via "$NODE_IP" dev "$NODE_HOST_IF"
  nsenter --target "$holder" --net -- sh -euc "
    ip link set lo up
    ip addr add '$NODE_IP/30' dev '$NODE_IF'
    ip link set '$NODE_IF' up
    # Service addresses are translated by kube-proxy before routing; this route only lets the node's
    # own processes open connections to them.
    ip route add '$NODE_SERVICE_CIDR' via '$NODE_HOST_IP' dev '$NODE_IF'
  " || die "configuring the node's network failed"

  # The guard first, checked, and only then forwarding.
  node_render guard.nft >"$state/guard.nft"
  nsenter --target "$holder" --net -- nft -f "$state/guard.nft" || die "loading the egress guard failed"
  node_guard_loaded || die "the egress guard is not in place: IP forwarding stays off"
  nsenter --target "$holder" --net -- sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward' ||
    die "turning on IP forwarding in the node's namespace failed"
}

# node_guard_loaded: the node's forward chain holds the drop rule for pod traffic leaving the pod network.
node_guard_loaded() {
  local holder rules
  holder=$(node_holder_pid) || return 1
  rules=$(nsenter --target "$holder" --net -- nft list chain inet sparkplane_guard forward 2>/dev/null) || return 1
  grep -q "hook forward" <<<"$rules" && grep -q "ip saddr $NODE_POD_SUBNET counter packets [0-9]* bytes [0-9]* drop" <<<"$rules"
}

# start_in_node NAME ARGS...: like `start`, inside the node's namespaces.
start_in_node() {
  local name=$1 holder
  shift
  holder=$(node_holder_pid) || die "the real node's namespaces are gone"
  record_command "$name" nsenter --target "$holder" --net --mount -- "$bin/$name" "$@"
  detach "$TESTBED_LOGS/$name.log" nsenter --target "$holder" --net --mount -- "$bin/$name" "$@"
  echo $! >"$TESTBED_STATE/pids/$name.pid"
}

# node_record_host_sysctls: the values the kubelet will overwrite, for testbed/down to restore.
node_record_host_sysctls() {
  local file
  file="$(node_state)/host-sysctls"
  [ -f "$file" ] && return 0
  local key
  for key in "${NODE_HOST_SYSCTLS[@]}"; do
    printf '%s=%s\n' "$key" "$(sysctl -n "$key" 2>/dev/null)"
  done >"$file"
}

containerd_ready() { in_node "$bin/ctr" --address /run/containerd/containerd.sock version >/dev/null 2>&1; }

# node_import_images ARCHIVE REF...: imports the testbed's images (never pulled) and pins them so that
# image garbage collection keeps them.
node_import_images() {
  local line archive ref
  while read -r archive ref; do
    [ -n "$archive" ] || continue
    in_node "$bin/ctr" --address /run/containerd/containerd.sock -n k8s.io images import \
      --platform linux/amd64 "$archive" >>"$TESTBED_LOGS/images-import.log" 2>&1 ||
      die "importing $archive into containerd failed; see $TESTBED_LOGS/images-import.log"
    in_node "$bin/ctr" --address /run/containerd/containerd.sock -n k8s.io images label "$ref" \
      io.cri-containerd.pinned=pinned >/dev/null 2>&1 || die "image $ref missing after importing $archive"
  done
}

node_ready() {
  [ "$(kubectl_admin get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
dns_ready() { in_node curl -fsS --max-time 2 http://127.0.0.1:18181/ready >/dev/null 2>&1; }
kube_proxy_ready() { in_node curl -fsS --max-time 2 http://127.0.0.1:10256/healthz >/dev/null 2>&1; }

# node_start IMAGES_LIST: containerd (with the images), kubelet, kube-proxy and CoreDNS, until the node
# is Ready.
node_start() {
  local images=$1 state
  state=$(node_state)
  node_render containerd.toml >"$state/containerd.toml"
  node_render cni.conflist >"$state/cni/net.d/10-testbed.conflist"
  node_render kubelet.yaml >"$state/kubelet.yaml"
  node_render kube-proxy.yaml >"$state/kube-proxy.yaml"
  node_render Corefile >"$state/Corefile"
  node_render cluster.yaml | kubectl_admin apply --server-side --force-conflicts -f - >/dev/null ||
    die "applying the real node's cluster objects failed"

  start_in_node containerd --config "$state/containerd.toml"
  wait_healthy containerd 30 containerd_ready
  say "importing the node's images into containerd"
  local import_start=$SECONDS
  node_import_images <"$images"
  cp "$images" "$state/images.list"
  say "images imported in $((SECONDS - import_start))s"

  node_record_host_sysctls
  node_create_cgroups
  start_in_node kubelet --config "$state/kubelet.yaml" --kubeconfig "$TESTBED_STATE/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --root-dir /var/lib/kubelet \
    --cert-dir "$state/kubelet-pki" --node-labels "type=real,node.sparkplane.io/testbed=real" --v 1
  start_in_node kube-proxy --config "$state/kube-proxy.yaml" --v 1
  start_in_node coredns -conf "$state/Corefile"
  wait_healthy kubelet 90 node_ready
  wait_healthy kube-proxy 30 kube_proxy_ready
  wait_healthy coredns 30 dns_ready
}

# node_stop: stops every node process and container and undoes what the node changed on the host.
# Safe to run on a half-started or already stopped node.
node_stop() {
  local state netns="" pid name
  state=$(node_state)
  [ -f "$state/netns" ] && netns=$(cat "$state/netns")
  # The node's own processes, newest first.
  for name in coredns kube-proxy kubelet containerd; do
    pid_alive "$name" && kill -TERM "$(cat "$TESTBED_STATE/pids/$name.pid")" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 10))
  while [ "$SECONDS" -lt "$deadline" ] && { pid_alive kubelet || pid_alive containerd; }; do sleep 0.1; done
  # Then everything left: the holder, shims and host-network containers (in the node's namespaces),
  # the other containers (in its cgroups).
  local round victims
  for round in 1 2 3 4 5 6 7 8 9 10; do
    mapfile -t victims < <(node_processes "$netns")
    [ "${#victims[@]}" -eq 0 ] && break
    [ "$round" -lt 10 ] || say "warning: processes of the real node survive SIGKILL: ${victims[*]}"
    kill -KILL "${victims[@]}" 2>/dev/null || true
    sleep 0.2
  done
  node_remove_cgroups
  node_restore_host_sysctls
  # The veth pair and the route go with the namespace; remove them explicitly if it lingers.
  ip link del "$NODE_HOST_IF" 2>/dev/null || true
}

# node_processes NETNS: every process of the node: in its network namespace NETNS (if known), named as
# its holder, running a testbed program outside the host's network namespace, or in its cgroups.
node_processes() {
  local netns=$1 host_netns proc pid
  host_netns=$(readlink /proc/self/ns/net)
  for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    [ "$pid" != $$ ] || continue
    local ns
    ns=$(readlink "$proc/ns/net" 2>/dev/null) || continue
    if [ -n "$netns" ] && [ "$ns" = "$netns" ]; then
      echo "$pid"
    elif [ "$(head -z -n 1 "$proc/cmdline" 2>/dev/null | tr -d '\0')" = "$NODE_HOLDER_NAME" ]; then
      echo "$pid"
    elif [ "$ns" != "$host_netns" ] && [[ "$(readlink "$proc/exe" 2>/dev/null)" == "$TESTBED_CACHE"/* ]]; then
      echo "$pid"
    fi
  done
  node_cgroup_pids
}

# node_create_cgroups: the kubelet's cgroup root, which it wants to exist in every hierarchy.
node_create_cgroups() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -f "$hierarchy/cgroup.procs" ] || continue
    mkdir -p "$hierarchy$NODE_CGROUP_ROOT" || die "cannot create the cgroup $hierarchy$NODE_CGROUP_ROOT"
  done
  # A new v1 cpuset has no CPUs and memory nodes until given its parent's.
  local cpuset=/sys/fs/cgroup/cpuset
  if [ -f "$cpuset/cpuset.cpus" ]; then
    cat "$cpuset/cpuset.cpus" >"$cpuset/$NODE_CGROUP_ROOT/cpuset.cpus"
    cat "$cpuset/cpuset.mems" >"$cpuset/$NODE_CGROUP_ROOT/cpuset.mems"
  fi
}

# node_cgroup_pids: every process in the node's cgroups, in any hierarchy.
node_cgroup_pids() {
  local dir
  for dir in /sys/fs/cgroup/*/"$NODE_CGROUP_ROOT" /sys/fs/cgroup/"$NODE_CGROUP_ROOT"; do
    [ -d "$dir" ] || continue
    find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u
}

node_remove_cgroups() {
  local dir
  for dir in /sys/fs/cgroup/*/"$NODE_CGROUP_ROOT" /sys/fs/cgroup/"$NODE_CGROUP_ROOT"; do
    [ -d "$dir" ] || continue
    # Deepest first: a cgroup goes only once its children have.
    find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ ! -d "$dir" ] || say "warning: cgroup $dir could not be removed"
  done
}

node_restore_host_sysctls() {
  local file key value
  file="$(node_state)/host-sysctls"
  [ -f "$file" ] || return 0
  while IFS='=' read -r key value; do
    [ -n "$value" ] || continue
    [ "$(sysctl -n "$key" 2>/dev/null)" = "$value" ] || sysctl -q -w "$key=$value" >/dev/null ||
      say "warning: could not restore $key=$value"
  done <"$file"
}

# host_snapshot DIR: what the testbed could change on the host, one file per aspect. `testbed/up`
# records it before it changes anything; `testbed/check-host` compares the host with it after down.
host_snapshot() {
  local dir=$1 key
  mkdir -p "$dir"
  ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort >"$dir/interfaces"
  ip route show table all | sort >"$dir/routes"
  if command -v nft >/dev/null; then nft list ruleset >"$dir/nftables" 2>&1 || true; else echo "(no nft)" >"$dir/nftables"; fi
  awk '{print $5}' /proc/self/mountinfo | sort >"$dir/mounts"
  { ls -A /run; echo "--- /opt"; ls -A /opt; echo "--- /run/netns"; ls -A /run/netns 2>/dev/null || true; } >"$dir/directories"
  for key in "${NODE_HOST_SYSCTLS[@]}" net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv6.conf.all.forwarding \
    net.netfilter.nf_conntrack_max net.bridge.bridge-nf-call-iptables; do
    printf '%s=%s\n' "$key" "$(sysctl -n "$key" 2>/dev/null || echo '(none)')"
  done >"$dir/sysctls"
  for key in /var/lib/kubelet /var/log/containers /var/log/pods /run/containerd /opt/containerd /etc/cni /var/lib/cni; do
    [ ! -e "$key" ] || echo "$key"
  done >"$dir/paths"
  find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d | sort >"$dir/cgroups"
}
