"""`rtai bench designs --compare KIND`: every kind the command offers runs a set of designs."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from flink_jobs.config import pipeline_config
from rtai import derived_pipeline, paths
from rtai.benchmarks import designs
from rtai.cli import build_parser

# Kinds with a run of their own (designs read from the pipeline, or a model re-registered per design).
OWN_RUNS = {"batch-views", "model-inputs", "serving-threads"}


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]


def _compare_choices() -> set[str]:
    designs_command = _subcommand(_subcommand(build_parser(), "bench"), "designs")
    return set(next(a for a in designs_command._actions if a.dest == "compare").choices)


def test_every_kind_offered_has_its_designs_and_every_set_is_offered():
    assert _compare_choices() == set(designs.COMPARISONS) | OWN_RUNS


def test_every_set_compares_at_least_two_designs():
    assert all(len(compared) >= 2 for compared in designs.COMPARISONS.values())


@pytest.mark.parametrize(
    ("kind", "name"), [(kind, name) for kind, compared in designs.COMPARISONS.items() for name in compared]
)
def test_every_design_is_a_valid_pipeline_on_the_shipped_one(kind, name, tmp_path: Path):
    """Each design is written over pipelines/fraud.toml: one the config refuses would fail its run."""
    path = tmp_path / "design.toml"
    derived_pipeline.write(paths.DEFAULT_PIPELINE, designs.COMPARISONS[kind][name], path)
    pipeline_config.load(path)
