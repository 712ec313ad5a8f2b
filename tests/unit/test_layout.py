"""The boundary between the code that runs inside Flink and the tooling: every module of
flink_jobs imports in a fresh interpreter that has only the zip `rtai job submit` ships, and in
which importing the tooling package fails."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from rtai.stack.flink_job_client import package_zip

IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys

class NoTooling:
    def find_spec(self, name, path=None, target=None):
        if name == "rtai" or name.startswith("rtai."):
            raise ImportError(f"the tooling package was imported: {name}")

sys.meta_path.insert(0, NoTooling())
import flink_jobs
assert flink_jobs.__file__.startswith(sys.argv[1]), flink_jobs.__file__
names = [m.name for m in pkgutil.walk_packages(flink_jobs.__path__, "flink_jobs.")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_the_shipped_zip_holds_only_flink_jobs_and_imports_without_the_tooling(tmp_path):
    archive = zipfile.ZipFile(package_zip())
    tops = {name.split("/")[0] for name in archive.namelist()}
    assert tops == {"flink_jobs"}
    archive.extractall(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE, str(tmp_path)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = sum(1 for name in archive.namelist() if name.endswith(".py"))
    assert int(result.stdout.split()[-1]) == modules - 1  # every module but flink_jobs/__init__ itself
