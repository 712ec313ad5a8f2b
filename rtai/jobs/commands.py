"""`rtai job ...`: the pipeline's jobs on a Flink cluster (submit, list, cancel, stop with a savepoint, resume),
and a python batching design's savepoint upgraded for the java design."""

from __future__ import annotations

import argparse
from pathlib import Path

from flink_jobs.errors import UserFacingError
from flink_jobs.jobs import MODULES
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
    submit.add_argument("job", choices=list(MODULES), help="the feature, inference or model-quality job")
    submit.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
    submit.add_argument("--from-savepoint", metavar="PATH", help="resume from this savepoint or retained checkpoint")
    submit.add_argument("--pyexec", help="the Python of the TaskManagers (default: the cluster's python.executable)")
    text = (
        "running and scheduled jobs (`flink list`); on the stack's cluster, also every job it ran before a "
        "crash and did not recover"
    )
    actions.add_parser("list", help=text, description=text)
    text = "drop a job that was not recovered from the stack's record (it is no longer reported, nor alerted on)"
    forget = actions.add_parser("forget", help=text, description=text)
    forget.add_argument("job_id")
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
    text = (
        "a savepoint of the inference job's python batching design rewritten for the java design (each card's "
        "history under its key group, the source's positions kept); resume the java design from the new one"
    )
    upgrade = actions.add_parser("upgrade-card-state", help=text, description=text)
    upgrade.add_argument("savepoint", type=Path, help="the python design's savepoint or retained checkpoint (chk-N)")
    upgrade.add_argument("target", type=Path, help="a new directory for the upgraded savepoint")
    upgrade.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
    job.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    if args.job_command == "upgrade-card-state":
        from flink_jobs.config import pipeline_config
        from rtai.jobs import card_state_upgrade

        config = pipeline_config.load(args.pipeline)
        card_state_upgrade.upgrade(args.savepoint, args.target, config.inference_job.max_parallelism)
        print(args.target.resolve())
        return
    from rtai.stack import config as stack_config
    from rtai.stack import flink_job_client, flink_job_record

    stack = stack_config.load()
    jobmanager = args.jobmanager or flink_job_client.stack_jobmanager(stack)
    # The stack's record of its cluster's jobs (rtai.stack.flink_job_record) follows what is done through here.
    on_stack = args.jobmanager is None
    if args.job_command == "submit":
        job_id = flink_job_client.submit(
            stack,
            args.job,
            args.pipeline,
            jobmanager=jobmanager,
            from_savepoint=args.from_savepoint,
            pyexec=args.pyexec,
        )
        if on_stack:
            flink_job_record.remember(job_id, args.job)
        print(f"submitted {args.job} job {job_id} to {jobmanager}")
    elif args.job_command == "list":
        print(flink_job_client.list_jobs(stack, jobmanager), end="")
        if on_stack:
            flink_job_record.reconcile(stack)
            for job in flink_job_record.lost_jobs():
                print(flink_job_record.describe(job))
    elif args.job_command == "forget":
        if not flink_job_record.forget(args.job_id):
            raise UserFacingError(f"job {args.job_id} is not in the stack's record")
        print(f"forgot {args.job_id}")
    elif args.job_command == "cancel":
        flink_job_client.cancel(stack, args.job_id, jobmanager)
        if on_stack:
            flink_job_record.forget(args.job_id)
        print(f"cancelled {args.job_id}")
    else:
        path = flink_job_client.stop_with_savepoint(stack, args.job_id, jobmanager, args.savepoint_dir)
        if on_stack:
            flink_job_record.forget(args.job_id)
        print(path)
