# Waiting for the API server, for scripts that create objects and use them at once. Sourced, never run.
# Uses `${KUBECTL:-kubectl}` with the caller's KUBECONFIG.

# wait_crds_served TIMEOUT CRD...: waits until each CustomResourceDefinition (by full name, e.g.
# sparkapplications.sparkoperator.k8s.io) is Established and its resource is served.
#
# A CRD that was just created has no status yet: `kubectl wait --for condition=Established` fails at
# once on it ("<nil> is of the type <nil>") instead of waiting, so this polls the condition itself.
# Established alone is not enough either: the first requests after it can still answer "the server
# doesn't have a resource type", so a list of the resource must succeed too.
wait_crds_served() {
  local timeout=$1 crd status
  shift
  local deadline=$((SECONDS + timeout))
  for crd in "$@"; do
    until status=$(${KUBECTL:-kubectl} get crd "$crd" \
      -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null) &&
      [ "$status" = True ] &&
      ${KUBECTL:-kubectl} get "$crd" --all-namespaces --request-timeout=5s >/dev/null 2>&1; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        printf 'CRD %s is not served after %ss (Established: %s)\n' "$crd" "$timeout" "${status:-no condition yet}" >&2
        return 1
      fi
      sleep 0.2
    done
  done
}
