"""Java artifacts resolved with `mvn` into the ignored .cache/ folder.

- the Apache Pulsar binary distribution (infra/maven/pulsar/pom.xml), unpacked;
- the Flink Pulsar connector and its dependencies (infra/maven/flink-connectors/pom.xml);
- the project's own Java classes (java/), compiled with the JDK's javac against those jars and
  Flink's, into a jar beside the connector's;
- the Flink Kubernetes Operator's api and autoscaler jars (infra/maven/k8s/pom.xml), what the
  Kubernetes manifests are checked against.

Maven's own local repository is .cache/m2, so nothing lands in ~/.m2 and a second
run downloads nothing (each step is skipped while its pom is unchanged).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rtai import paths
from rtai.bootstrap import prereqs, stamp
from rtai.console import done, step

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
PULSAR_POM = paths.INFRA_DIR / "maven" / "pulsar" / "pom.xml"
CONNECTORS_POM = paths.INFRA_DIR / "maven" / "flink-connectors" / "pom.xml"
PULSAR_DIR = paths.CACHE_DIR / "pulsar"
CONNECTORS_DIR = paths.JARS_DIR / "flink-connectors"
JAVA_SOURCES = paths.PROJECT_ROOT / "java"
PROJECT_JAR = CONNECTORS_DIR / "rtai-pulsar-source.jar"
K8S_POM = paths.INFRA_DIR / "maven" / "k8s" / "pom.xml"
K8S_JARS_DIR = paths.JARS_DIR / "k8s"


def pom_property(pom: Path, name: str) -> str:
    match = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", pom.read_text())
    if not match:
        raise ValueError(f"{pom}: no <{name}> property")
    return match.group(1).strip()


def pulsar_version() -> str:
    return pom_property(PULSAR_POM, "pulsar.version")


def pulsar_home() -> Path:
    return PULSAR_DIR / f"apache-pulsar-{pulsar_version()}"


def connector_jars() -> list[Path]:
    """The jars a Pulsar-reading Flink job needs on its class path."""
    return sorted(CONNECTORS_DIR.glob("*.jar"))


def _mvn(pom: Path, goal: str, *properties: str) -> None:
    mvn = str(prereqs.check_maven())
    # Interactive terminals get Maven's download progress; logs only its summary.
    mode = [] if sys.stderr.isatty() else ["--batch-mode", "--no-transfer-progress"]
    subprocess.run(
        [mvn, *mode, "-f", str(pom), f"-Dmaven.repo.local={paths.MAVEN_REPO}", goal, *properties],
        check=True,
    )


def ensure_pulsar() -> bool:
    stamp_file = PULSAR_DIR / ".stamp"
    expected = stamp.digest(PULSAR_POM.read_bytes())
    if stamp.is_current(stamp_file, expected) and (pulsar_home() / "lib").is_dir():
        return False
    step(f"fetching Apache Pulsar {pulsar_version()} (binary distribution, ~245 MB) with mvn")
    started = time.monotonic()
    _mvn(
        PULSAR_POM,
        f"{DEPENDENCY_PLUGIN}:unpack-dependencies",
        f"-DoutputDirectory={PULSAR_DIR}",
        f"-DmarkersDirectory={PULSAR_DIR / 'markers'}",
    )
    stamp.write(stamp_file, expected)
    done(f"Pulsar unpacked in {pulsar_home()}", started)
    return True


def ensure_connectors() -> bool:
    stamp_file = CONNECTORS_DIR / ".stamp"
    expected = stamp.digest(CONNECTORS_POM.read_bytes())
    if stamp.is_current(stamp_file, expected) and connector_jars():
        return False
    step("fetching the Flink Pulsar connector with mvn")
    started = time.monotonic()
    for old in connector_jars():
        old.unlink()
    _mvn(
        CONNECTORS_POM,
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={CONNECTORS_DIR}",
        "-DincludeScope=runtime",
        # flink-dist already ships slf4j-api.
        "-DexcludeArtifactIds=slf4j-api",
    )
    stamp.write(stamp_file, expected)
    done(f"{len(connector_jars())} jars in {CONNECTORS_DIR}", started)
    return True


def k8s_jar(artifact: str) -> Path:
    """One of the operator's jars fetched by ensure_k8s_jars, by its artifact id."""
    found = sorted(K8S_JARS_DIR.glob(f"{artifact}-*.jar"))
    if not found:
        raise FileNotFoundError(f"no {artifact} jar in {K8S_JARS_DIR}: run `make setup`")
    return found[-1]


def ensure_k8s_jars() -> bool:
    stamp_file = K8S_JARS_DIR / ".stamp"
    expected = stamp.digest(K8S_POM.read_bytes())
    if stamp.is_current(stamp_file, expected) and any(K8S_JARS_DIR.glob("*.jar")):
        return False
    step("fetching the Flink Kubernetes Operator's api and autoscaler jars with mvn")
    started = time.monotonic()
    for old in K8S_JARS_DIR.glob("*.jar"):
        old.unlink()
    _mvn(
        K8S_POM,
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={K8S_JARS_DIR}",
        "-DexcludeTransitive=true",
    )
    stamp.write(stamp_file, expected)
    done(f"jars in {K8S_JARS_DIR}", started)
    return True


def ensure_project_jar() -> bool:
    """Compiles java/ into PROJECT_JAR, against the connector's jars and Flink's (the flink environment's)."""
    sources = sorted(JAVA_SOURCES.rglob("*.java"))
    class_path = [
        *(jar for jar in connector_jars() if jar != PROJECT_JAR),
        *sorted((paths.flink_home() / "lib").glob("flink-dist-*.jar")),
    ]
    stamp_file = CONNECTORS_DIR / ".project-jar.stamp"
    expected = stamp.digest(*(s.read_bytes() for s in sources), *(jar.name for jar in class_path))
    if stamp.is_current(stamp_file, expected) and PROJECT_JAR.is_file():
        return False
    step(f"compiling the project's Java classes ({len(sources)} files) into {PROJECT_JAR.name}")
    started = time.monotonic()
    javac, jar = prereqs.check_jdk()
    with tempfile.TemporaryDirectory(dir=paths.CACHE_DIR) as classes:
        subprocess.run(
            [
                str(javac),
                "--release",
                "11",
                "-Xlint:all",
                "-Werror",
                "-proc:none",
                "-d",
                classes,
                "-cp",
                ":".join(map(str, class_path)),
                *map(str, sources),
            ],
            check=True,
        )
        # A new file renamed into place: a running job's JVM keeps reading the jar it opened.
        building = Path(classes) / PROJECT_JAR.name
        subprocess.run([str(jar), "--create", "--file", str(building), "-C", classes, "."], check=True)
        os.replace(building, PROJECT_JAR)
    stamp.write(stamp_file, expected)
    done(f"{PROJECT_JAR}", started)
    return True


def ensure_all() -> None:
    changed = [ensure_pulsar(), ensure_connectors(), ensure_project_jar(), ensure_k8s_jars()]
    if not any(changed):
        step("Java artifacts up to date: Pulsar, Flink Pulsar connector, the project's jar, the operator's jars")
