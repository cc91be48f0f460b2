# Shared helpers for testbed/build, testbed/up and testbed/down. Sourced, never run.

TESTBED_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TESTBED_CACHE=${SPARKPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sparkplane}/testbed
# Runtime state (certificates, kubeconfigs, etcd data, pids) of the one testbed on this machine.
TESTBED_STATE=${SPARKPLANE_TESTBED_STATE:-$TESTBED_CACHE/run}
# Component logs of the last start (kept after `down` and after a failed start).
TESTBED_LOGS=${TESTBED_STATE}-logs

say() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

require_go() {
  command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH: install Go 1.26 or newer (needed to build the testbed)"
}

# module_version DIR MODULE: the version of MODULE required by testbed/modules/DIR/go.mod.
module_version() {
  awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' \
    "$TESTBED_ROOT/modules/$1/go.mod"
}

# The bin directory for the current pins: named by the Kubernetes version and a hash of every pin file.
testbed_bin_dir() {
  local key
  key=$(cd "$TESTBED_ROOT/modules" && cat ./*/go.mod ./*/go.sum "$TESTBED_ROOT/build" | sha256sum | cut -c1-12)
  echo "$TESTBED_CACHE/$(module_version kubernetes k8s.io/kubernetes)-$key/bin"
}

# pid_running PID: the process exists and has not exited. A zombie (exited, not yet reaped by the
# script that started it) has; but a killed multi-threaded program's main thread is a zombie while its
# other threads still tear down, holding its sockets: it has exited only when every thread has.
pid_running() {
  local task stat
  for task in /proc/"$1"/task/*/stat; do
    stat=$(cat "$task" 2>/dev/null) || continue
    stat=${stat##*) }
    [ "${stat%% *}" = Z ] || return 0
  done
  return 1
}

# pid_alive NAME: the component NAME of the running testbed is alive. The process must still be that
# component: after a reboot a stale pid file may name an unrelated process, which must not be signalled.
pid_alive() {
  local file="$TESTBED_STATE/pids/$1.pid" pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -n "$pid" ] && pid_running "$pid" || return 1
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  # The command line reads empty while the process is between two programs (setsid executing the
  # component): it is alive. Otherwise it must name the component, so that a reused pid does not count.
  [ -z "$cmdline" ] || [[ "$cmdline" == *"/$1 "* ]]
}

port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
port_owner() { ss -Hltnp "sport = :$1" 2>/dev/null | head -n 1; }

# ensure_debian_packages PACKAGE...: installs the Debian packages that are missing (apt-get, as root).
ensure_debian_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "Debian packages missing: ${missing[*]} (install them as root: apt-get install ${missing[*]})"
  command -v apt-get >/dev/null || die "Debian packages missing and no apt-get: ${missing[*]}"
  say "installing Debian packages: ${missing[*]}"
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}")
  # Stale or missing package lists make the install fail; refresh them once and retry.
  "${install[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && "${install[@]}" >/dev/null; } ||
    die "apt-get install ${missing[*]} failed"
}

# record_command NAME COMMAND...: what component NAME was started with, for testbed/fault to start it
# again (NUL-separated, in the state).
record_command() {
  local name=$1
  shift
  mkdir -p "$TESTBED_STATE/commands"
  printf '%s\0' "$@" >"$TESTBED_STATE/commands/$name"
}

# release_node_leases: deletes the Leases of the simulated nodes (with the caller's `kubectl_admin`).
# A kwok plays only the nodes whose Lease it holds, and each kwok process has an identity of its own:
# after a restart the new one would wait for the old one's Leases to expire (40 s, nodes unplayed).
# The old one is stopped first, so its Leases go.
# Just after etcd or the API server restarted, the API server can take seconds to answer (a
# request timed out once and left the nodes unplayed for the rest of a test run): tried for a minute.
release_node_leases() {
  local names attempt
  for attempt in $(seq 30); do
    if names=$(kubectl_admin get nodes -l type=kwok -o jsonpath='{.items[*].metadata.name}' 2>/dev/null); then
      [ -n "$names" ] || return 0
      # shellcheck disable=SC2086 # one argument per node name
      kubectl_admin -n kube-node-lease delete lease --ignore-not-found $names >/dev/null 2>&1 && return 0
    fi
    [ "$attempt" -eq 30 ] || sleep 2
  done
  die "could not release the simulated nodes' Leases: the API server does not answer"
}

# detach LOG COMMAND...: runs COMMAND in the background in a session of its own, its output in LOG,
# holding no file descriptor of this shell but stdin/stdout/stderr: a lock held here (up's own, or a
# caller's `flock`) must not live on in a daemon for as long as the testbed runs. `$!` is its pid.
# Returns once the background subshell has exec'd COMMAND (or ended, or after 10 s): until then its
# command line is this shell's, and pid_alive, which checks the command line, would take a component
# that is starting for one that died (a loaded machine made `up` fail that way, and `down` miss it).
detach() {
  local log=$1
  shift
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    exec setsid "$@" >"$log" 2>&1 </dev/null
  ) &
  local child=$! ours deadline=$((SECONDS + 10))
  ours=$(tr '\0' ' ' <"/proc/$BASHPID/cmdline")
  while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$child" 2>/dev/null &&
    [ "$(tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null)" = "$ours" ]; do
    sleep 0.02
  done
}
