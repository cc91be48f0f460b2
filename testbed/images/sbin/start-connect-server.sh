#!/usr/bin/env bash
# Starts a Spark Connect server (org.apache.spark.sql.connect.service.SparkConnectServer) through
# spark-daemon.sh, the contract of sbin/start-connect-server.sh in Spark's binary distribution: in the
# background, or in the foreground when SPARK_NO_DAEMONIZE is set (how the Spark operators run it).
# The arguments go to spark-submit. Written for the testbed image: pyspark's source distribution, which
# the image is built from, does not ship this script.
set -o posix
SPARK_HOME=${SPARK_HOME:-$(cd "$(dirname "$0")/.." && pwd)}
export SPARK_HOME
exec "$SPARK_HOME/sbin/spark-daemon.sh" submit org.apache.spark.sql.connect.service.SparkConnectServer 1 \
  --name "Spark Connect server" "$@"
