"""The rtai commands that run the jobs: on the embedded MiniCluster (launcher) and on a Flink cluster (Flink's CLI)."""
