#!/bin/bash
# /opt/entrypoint.sh of the Spark images built by Sparkplane's testbed (testbed/images/build).
#
# Written for the testbed; it follows the behaviour documented for the official apache/spark image's
# entrypoint, which Spark's Kubernetes backend relies on (the pods it creates set args only, never a command):
#
#   driver ARGS...    spark-submit in client mode inside the driver pod:
#                     spark.driver.bindAddress = $SPARK_DRIVER_BIND_ADDRESS (the pod IP) and the same address
#                     passed to executors as spark.executorEnv.SPARK_DRIVER_POD_IP; under tini.
#   executor          the executor JVM (KubernetesExecutorBackend), configured from the SPARK_EXECUTOR_*,
#                     SPARK_DRIVER_URL, SPARK_APPLICATION_ID, SPARK_RESOURCE_PROFILE_ID and
#                     SPARK_JAVA_OPT_<n> variables set by the driver; under tini.
#   anything else     run as given (exec).
#
# For driver and executor: a uid with no passwd entry gets one through nss_wrapper (Java and Hadoop need a
# user name), and root is dropped to the spark user (185).
set -euo pipefail

spark_uid=185

die() { echo "entrypoint: $*" >&2; exit 1; }

if [ $# -eq 0 ]; then
  die "usage: entrypoint.sh driver ARGS... | executor | COMMAND [ARGS...]"
fi

export SPARK_HOME=${SPARK_HOME:-/opt/spark}
if [ -z "${JAVA_HOME:-}" ]; then
  JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
  export JAVA_HOME
fi
# Chosen by spark-submit (spark.pyspark.python / spark.pyspark.driver.python) and set on the pod: keep them
# in the environment of everything started from here.
if [ -n "${PYSPARK_PYTHON+set}" ]; then export PYSPARK_PYTHON; fi
if [ -n "${PYSPARK_DRIVER_PYTHON+set}" ]; then export PYSPARK_DRIVER_PYTHON; fi
# A Hadoop installation in the image supplies its classpath when none was given.
if [ -n "${HADOOP_HOME:-}" ] && [ -z "${SPARK_DIST_CLASSPATH:-}" ]; then
  SPARK_DIST_CLASSPATH=$("$HADOOP_HOME/bin/hadoop" classpath)
  export SPARK_DIST_CLASSPATH
fi

# When the current uid has no passwd entry (a pod running as an arbitrary runAsUser), give it one through
# nss_wrapper: copies of /etc/passwd and /etc/group with an entry added, preloaded into every process.
ensure_passwd_entry() {
  local uid gid lib
  uid=$(id -u)
  gid=$(id -g)
  getent passwd "$uid" >/dev/null 2>&1 && return 0
  for lib in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so; do
    [ -s "$lib" ] || continue
    NSS_WRAPPER_PASSWD=$(mktemp)
    NSS_WRAPPER_GROUP=$(mktemp)
    { cat /etc/passwd; printf 'spark:x:%s:%s:anonymous uid:%s:/bin/false\n' "$uid" "$gid" "$SPARK_HOME"; } \
      >"$NSS_WRAPPER_PASSWD"
    cat /etc/group >"$NSS_WRAPPER_GROUP"
    getent group "$gid" >/dev/null 2>&1 || printf 'spark:x:%s:\n' "$gid" >>"$NSS_WRAPPER_GROUP"
    export LD_PRELOAD="$lib${LD_PRELOAD:+ $LD_PRELOAD}" NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
    return 0
  done
  echo "entrypoint: warning: uid $uid has no passwd entry and nss_wrapper is missing" >&2
}

# Prefix that runs a command as the spark user when we are root (as the official image does with gosu).
as_spark=()
if [ "$(id -u)" -eq 0 ]; then
  as_spark=(setpriv "--reuid=$spark_uid" "--regid=$spark_uid" --init-groups --)
  HOME=$(getent passwd "$spark_uid" | cut -d: -f6)
  export HOME
fi

case "$1" in
  driver)
    shift
    [ -n "${SPARK_DRIVER_BIND_ADDRESS:-}" ] ||
      die "driver: SPARK_DRIVER_BIND_ADDRESS is not set (Spark sets it to the pod IP, status.podIP)"
    ensure_passwd_entry
    exec "${as_spark[@]}" /usr/bin/tini -s -- "$SPARK_HOME/bin/spark-submit" \
      --conf "spark.driver.bindAddress=$SPARK_DRIVER_BIND_ADDRESS" \
      --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=$SPARK_DRIVER_BIND_ADDRESS" \
      --deploy-mode client "$@"
    ;;
  executor)
    shift
    # JVM options SPARK_JAVA_OPT_0, SPARK_JAVA_OPT_1, ... in numeric order of their index.
    java_opts=()
    while read -r name; do
      [ -n "$name" ] && java_opts+=("${!name}")
    done < <(compgen -v SPARK_JAVA_OPT_ | sort -t_ -k4,4n)
    # Classpath: configuration directory, Hadoop configuration, SPARK_CLASSPATH (spark.executor.extraClassPath),
    # Spark's jars, SPARK_EXTRA_CLASSPATH, the working directory, then SPARK_DIST_CLASSPATH.
    cp=${SPARK_CONF_DIR:-$SPARK_HOME/conf}
    [ -z "${HADOOP_CONF_DIR:-}" ] || cp+=":$HADOOP_CONF_DIR"
    [ -z "${SPARK_CLASSPATH:-}" ] || cp+=":$SPARK_CLASSPATH"
    cp+=":$SPARK_HOME/jars/*"
    [ -z "${SPARK_EXTRA_CLASSPATH:-}" ] || cp+=":$SPARK_EXTRA_CLASSPATH"
    cp+=":$PWD"
    [ -z "${SPARK_DIST_CLASSPATH:-}" ] || cp+=":$SPARK_DIST_CLASSPATH"
    for v in SPARK_EXECUTOR_MEMORY SPARK_DRIVER_URL SPARK_EXECUTOR_ID SPARK_EXECUTOR_CORES SPARK_APPLICATION_ID \
      SPARK_EXECUTOR_POD_IP SPARK_RESOURCE_PROFILE_ID SPARK_EXECUTOR_POD_NAME; do
      [ -n "${!v:-}" ] || die "executor: $v is not set (the driver sets it on executor pods)"
    done
    ensure_passwd_entry
    exec "${as_spark[@]}" /usr/bin/tini -s -- "$JAVA_HOME/bin/java" "${java_opts[@]}" \
      "-Xms$SPARK_EXECUTOR_MEMORY" "-Xmx$SPARK_EXECUTOR_MEMORY" \
      -cp "$cp" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "$SPARK_DRIVER_URL" \
      --executor-id "$SPARK_EXECUTOR_ID" \
      --cores "$SPARK_EXECUTOR_CORES" \
      --app-id "$SPARK_APPLICATION_ID" \
      --hostname "$SPARK_EXECUTOR_POD_IP" \
      --resourceProfileId "$SPARK_RESOURCE_PROFILE_ID" \
      --podName "$SPARK_EXECUTOR_POD_NAME"
    ;;
  *)
    exec "$@"
    ;;
esac
