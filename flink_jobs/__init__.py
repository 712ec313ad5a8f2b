"""What runs inside Flink: the PyFlink jobs (jobs/), their stages (stages/), the keyed batching
mechanism, the clients of Pulsar, Feast and Triton (clients/) and the pipeline config (config/).

Nothing here imports the tooling (the `rtai` package); `rtai job submit` ships only this package.
"""
