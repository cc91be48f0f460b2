#!/usr/bin/env bash
# Stops a Spark Connect server started in the background by start-connect-server.sh (a foreground one
# has no pid file and stops with its container). Written for the testbed image, as its companion.
SPARK_HOME=${SPARK_HOME:-$(cd "$(dirname "$0")/.." && pwd)}
export SPARK_HOME
exec "$SPARK_HOME/sbin/spark-daemon.sh" stop org.apache.spark.sql.connect.service.SparkConnectServer 1
