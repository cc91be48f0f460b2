#!/bin/bash
# /opt/decom.sh of the Spark images built by Sparkplane's testbed: graceful executor decommissioning.
#
# Spark runs it as the executor pod's preStop hook (spark.kubernetes.decommission.script, default
# /opt/decom.sh) when spark.decommission.enabled is true. It sends SIGPWR to the executor JVM, which Spark
# handles by decommissioning the executor (migrating its blocks if configured), and waits until that JVM has
# exited; the kubelet bounds the wait with the pod's termination grace period.
set -u

pid=$(pgrep -o -f 'org\.apache\.spark\.scheduler\.cluster\.k8s\.KubernetesExecutorBackend' || true)
if [ -z "$pid" ]; then
  echo "decom: no executor JVM is running" >&2
  exit 0
fi
echo "decom: $(date -u +%FT%TZ) asking executor JVM $pid to decommission (SIGPWR)"
kill -PWR "$pid" || exit 0
while kill -0 "$pid" 2>/dev/null; do
  sleep 1
done
echo "decom: $(date -u +%FT%TZ) executor JVM $pid has exited"
