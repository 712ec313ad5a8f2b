"""Checks for the programs the set-up cannot install by itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from rtai.errors import PrerequisiteError

SUPPORTED_JAVA = (17, 21)


def check_python() -> None:
    if sys.version_info[:2] != (3, 11):
        found = ".".join(map(str, sys.version_info[:3]))
        raise PrerequisiteError(
            f"Python 3.11 is required, found {found} at {sys.executable}: run the set-up with python3.11"
        )


def java_executable() -> Path:
    """`$JAVA_HOME/bin/java` when JAVA_HOME is set, else `java` from PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if not candidate.is_file():
            raise PrerequisiteError(f"Java not found: JAVA_HOME={java_home} has no bin/java")
        return candidate
    found = shutil.which("java")
    if not found:
        raise PrerequisiteError(
            "Java 17 not found: no `java` on PATH and JAVA_HOME unset "
            "(install it, e.g. `apt-get install openjdk-17-jdk-headless`)"
        )
    return Path(found)


def java_command() -> str:
    """The java to run services with; `check_java` tells whether it is usable."""
    java_home = os.environ.get("JAVA_HOME")
    return str(Path(java_home) / "bin" / "java") if java_home else "java"


def java_major_version(java: Path) -> int:
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise PrerequisiteError(f"Java at {java} did not report a version: {out.stderr.strip()!r}")
    major = int(match.group(1))
    # Java 8 and older report "1.8".
    return int(match.group(2)) if major == 1 else major


def check_java() -> Path:
    java = java_executable()
    major = java_major_version(java)
    if major not in SUPPORTED_JAVA:
        raise PrerequisiteError(
            f"Java 17 is required (Flink 1.20 and Pulsar 4.0 run on 17 or 21), found Java {major} at {java}"
        )
    return java


def check_jdk() -> tuple[Path, Path]:
    """javac and jar of the Java 17 that check_java finds: the project compiles a few classes."""
    bin_dir = check_java().resolve().parent
    tools = bin_dir / "javac", bin_dir / "jar"
    missing = [tool.name for tool in tools if not tool.is_file()]
    if missing:
        raise PrerequisiteError(
            f"the Java 17 at {bin_dir} is a runtime without {' and '.join(missing)}: install the JDK "
            "(e.g. `apt-get install openjdk-17-jdk-headless`) or point JAVA_HOME at one"
        )
    return tools


def check_maven() -> Path:
    found = shutil.which("mvn")
    if not found:
        raise PrerequisiteError("Maven not found: no `mvn` on PATH (install it, e.g. `apt-get install maven`)")
    return Path(found)


def check_all() -> None:
    check_python()
    check_jdk()
    check_maven()
