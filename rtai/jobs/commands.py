"""`rtai job ...`: the pipeline's jobs on a Flink cluster (submit, list, cancel, stop with a savepoint, resume)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rtai import paths


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    job = subparsers.add_parser(
        "job",
        help="the jobs on a Flink cluster: submit, list, cancel, stop with a savepoint, resume",
        description="Flink's CLI against the stack's standalone cluster (`rtai stack up --with-flink`) or, with "
        "--jobmanager, a remote one whose TaskManagers have the project's flink environment and the Pulsar "
        "connector jars.",
    )
    actions = job.add_subparsers(dest="job_command", required=True)
    text = "submit a job, detached (`flink run -pym`); prints its job id"
    submit = actions.add_parser("submit", help=text, description=text)
    submit.add_argument("job", choices=["features", "inference"], help="the feature job or the inference job")
    submit.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
    submit.add_argument("--from-savepoint", metavar="PATH", help="resume from this savepoint or retained checkpoint")
    submit.add_argument("--pyexec", help="the Python of the TaskManagers (default: the cluster's python.executable)")
    text = "running and scheduled jobs (`flink list`)"
    actions.add_parser("list", help=text, description=text)
    text = "cancel a job (`flink cancel`): no savepoint; its last checkpoint is kept"
    cancel = actions.add_parser("cancel", help=text, description=text)
    cancel.add_argument("job_id")
    text = "stop a job with a final savepoint (`flink stop`); prints the savepoint path to resume from"
    stop = actions.add_parser("stop", help=text, description=text)
    stop.add_argument("job_id")
    stop.add_argument("--savepoint-dir", type=Path, help="default: the cluster's state.savepoints.dir")
    for action in actions.choices.values():
        action.add_argument(
            "--jobmanager",
            metavar="HOST:PORT",
            help="the cluster's REST address; https://HOST:PORT for one whose REST API speaks TLS (Flink's CLI "
            "uses TLS only with that scheme; the client's stores come from the stack cluster's config) "
            "(default: the stack's cluster)",
        )
    job.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from rtai.jobs import cluster
    from rtai.stack import config as stack_config

    stack = stack_config.load()
    # Flink's CLI turns REST TLS off for an address without https://, whatever its config says.
    jobmanager = args.jobmanager or f"{'https://' if stack.secure else ''}localhost:{stack.flink.rest_port}"
    if args.job_command == "submit":
        job_id = cluster.submit(
            stack,
            args.job,
            args.pipeline,
            jobmanager=jobmanager,
            from_savepoint=args.from_savepoint,
            pyexec=args.pyexec,
        )
        print(f"submitted {args.job} job {job_id} to {jobmanager}")
    elif args.job_command == "list":
        print(cluster.list_jobs(stack, jobmanager), end="")
    elif args.job_command == "cancel":
        cluster.cancel(stack, args.job_id, jobmanager)
        print(f"cancelled {args.job_id}")
    else:
        print(cluster.stop_with_savepoint(stack, args.job_id, jobmanager, args.savepoint_dir))
