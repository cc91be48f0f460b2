/*
 * SparkPi for the Spark images built by Sparkplane's testbed (testbed/images/build).
 *
 * PyPI's pyspark ships no spark-examples jar, so the testbed compiles this class against the jars of each
 * Spark version and packages it as /opt/spark/examples/jars/spark-examples_<scala>-<version>.jar. It behaves
 * like Spark's own example of the same name: an optional first argument gives the number of slices
 * (default 2); it samples n = min(100000 * slices, Integer.MAX_VALUE) - 1 random points of the square
 * [-1, 1] x [-1, 1] over a parallelized range, counts those inside the unit circle, prints
 * "Pi is roughly <value>" and stops the session.
 */
package org.apache.spark.examples;

import java.util.concurrent.ThreadLocalRandom;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

public final class SparkPi {
  private SparkPi() {}

  public static void main(String[] args) {
    SparkSession spark = SparkSession.builder().appName("Spark Pi").getOrCreate();
    try {
      int slices = args.length > 0 ? Integer.parseInt(args[0]) : 2;
      int n = (int) Math.min(100000L * slices, Integer.MAX_VALUE);
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      // The range 1 .. n-1, split into `slices` partitions without materialising it on the driver.
      JavaRDD<Object> range = jsc.sc().range(1L, n, 1L, slices).toJavaRDD();
      int count = range.map(i -> {
        double x = ThreadLocalRandom.current().nextDouble() * 2 - 1;
        double y = ThreadLocalRandom.current().nextDouble() * 2 - 1;
        return x * x + y * y <= 1 ? 1 : 0;
      }).reduce(Integer::sum);
      System.out.println("Pi is roughly " + 4.0 * count / (n - 1));
    } finally {
      spark.stop();
    }
  }
}
