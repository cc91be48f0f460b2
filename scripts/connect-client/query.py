"""A Spark Connect client's check of a server: runs DataFrame queries whose work is spread over the
server's executors (a shuffle over 8 partitions, an aggregate) and prints their results as one JSON
line. Usage: query.py sc://HOST:PORT
"""
import json
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
numbers = spark.range(0, 100_000, numPartitions=8)
by_remainder = (
    numbers.groupBy((F.col("id") % 7).alias("remainder"))
    .agg(F.count("*").alias("count"), F.sum("id").alias("sum"))
    .orderBy("remainder")
    .collect()
)
doubled = spark.range(100).selectExpr("sum(id * 2) AS total").collect()[0]["total"]
print(
    json.dumps(
        {
            "server_version": spark.version,
            "counts": {str(r["remainder"]): r["count"] for r in by_remainder},
            "sums": {str(r["remainder"]): r["sum"] for r in by_remainder},
            "doubled_total": doubled,
        }
    )
)
spark.stop()
