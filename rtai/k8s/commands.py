"""`rtai k8s check`: the Kubernetes manifests (infra/k8s/) checked offline before anyone applies them;
`rtai k8s dry-run`: applied with server-side dry run to a real API server built and started here."""

from __future__ import annotations

import argparse
from pathlib import Path

from flink_jobs.errors import UserFacingError
from rtai import paths


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    k8s = subparsers.add_parser("k8s", help="the Kubernetes manifests (infra/k8s)")
    kinds = k8s.add_subparsers(dest="k8s_command", required=True)
    text = (
        "render every kustomization of infra/k8s with `kubectl kustomize` and check it offline: each object against "
        "the Kubernetes API's schema (strict) or the Flink operator's CRD, the autoscaler's option names, and the "
        "images, ports, services, volumes, HPA metrics and pipeline config against the project's own files"
    )
    check = kinds.add_parser("check", help=text, description=text)
    check.set_defaults(func=run)
    text = (
        "start a real etcd and kube-apiserver (built from their Go modules on first use, about 5 min, cached "
        "under .cache/k8s-servers), register the Flink operator's CRDs, and apply every kustomization of "
        "infra/k8s with server-side dry run; stops both at the end"
    )
    dry_run = kinds.add_parser("dry-run", help=text, description=text)
    dry_run.add_argument(
        "--work-dir",
        type=Path,
        default=paths.RUN_DIR / "data" / "k8s-dry-run",
        help="the servers' data and logs (default .run/data/k8s-dry-run, emptied first)",
    )
    dry_run.set_defaults(func=run_dry_run)


def run(args: argparse.Namespace) -> None:
    from . import check, manifests

    crd_schema, options = manifests.flink_deployment_schema(), manifests.autoscaler_options()
    found = []
    for kustomization in manifests.KUSTOMIZATIONS:
        count, problems = check.kustomization_problems(manifests.K8S_DIR / kustomization, crd_schema, options)
        print(f"{kustomization}: {count} objects, {len(problems)} problems")
        found += problems
    if found:
        raise UserFacingError("\n".join(map(str, found)))


def run_dry_run(args: argparse.Namespace) -> None:
    from . import dry_run

    outcomes = dry_run.run(args.work_dir)
    for outcome in outcomes:
        refused = ", the others refused (below)" if outcome.refused else ""
        print(f"{outcome.kustomization}: {len(outcome.accepted)} objects accepted by the API server (dry run){refused}")
    refused = [f"{o.kustomization}: {o.refused}" for o in outcomes if o.refused]
    if refused:
        raise UserFacingError("\n".join(refused))
