//! Builds what Spark's spark-submit creates on Kubernetes, without a JVM.
