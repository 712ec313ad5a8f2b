"""The command line every plotting script of the project takes: a JSON file in, a PNG out."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def json_in_png_out(description: str, argv: list[str] | None, input_name: str = "result") -> tuple[dict, Path]:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(input_name, type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    return json.loads(getattr(args, input_name).read_text()), args.out
