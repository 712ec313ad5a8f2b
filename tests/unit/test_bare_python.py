"""`rtai setup` runs on the bare system Python, before any environment exists: the command line's
parser and the set-up import nothing but the standard library and the project's own packages."""

from __future__ import annotations

import subprocess
import sys

from rtai import paths

ON_A_BARE_PYTHON = """
import sys

ALLOWED = set(sys.stdlib_module_names) | {"rtai", "flink_jobs"}


class Bare:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in ALLOWED:
            raise ImportError(f"not on a bare Python: {name}")


sys.meta_path.insert(0, Bare())
from rtai import cli
from rtai.bootstrap import setup

cli.build_parser().parse_args(["setup"])
print("parsed")
"""


def test_the_parser_and_the_setup_import_only_the_standard_library():
    result = subprocess.run(
        [sys.executable, "-c", ON_A_BARE_PYTHON], cwd=paths.PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip() == "parsed", result.stderr[-2000:]
