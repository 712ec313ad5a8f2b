"""The tooling around the Flink jobs, behind the `rtai` command: set-up, the local stack, the
event generator, feature and model tooling, job submission, benchmarks and the demo.

It imports `flink_jobs` (the code that runs inside Flink); `flink_jobs` never imports it.
"""
