"""The PyFlink jobs. Each module runs locally (`python -m flink_jobs.jobs.<name>`, an
embedded MiniCluster) or on a cluster (`flink run -py flink_jobs/jobs/<name>.py`)."""
