"""The PyFlink jobs. Each module runs locally (`python -m flink_jobs.jobs.<name> --pipeline P --connector-jars DIR`,
an embedded MiniCluster) or on a cluster (`flink run -pym flink_jobs.jobs.<name> -pyfs flink_jobs.zip`)."""
