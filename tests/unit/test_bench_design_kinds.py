"""`rtai bench designs --compare KIND`: every kind the command offers runs a set of designs."""

from __future__ import annotations

import argparse

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
