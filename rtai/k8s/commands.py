"""`rtai k8s check`: the Kubernetes manifests (infra/k8s/) checked offline before anyone applies them."""

from __future__ import annotations

import argparse

from flink_jobs.errors import UserFacingError


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
