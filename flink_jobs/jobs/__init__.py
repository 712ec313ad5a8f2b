"""The PyFlink jobs. Each module runs locally (`python -m flink_jobs.jobs.<name> --pipeline P --connector-jars DIR`,
an embedded MiniCluster) or on a cluster (`flink run -pym flink_jobs.jobs.<name> -pyfs flink_jobs.zip`)."""

# The jobs by the name the command line gives them (`rtai job submit NAME`, [flink] application_job).
MODULES = {
    "features": "flink_jobs.jobs.card_features",
    "inference": "flink_jobs.jobs.fraud_scoring",
    "quality": "flink_jobs.jobs.model_quality",
}
