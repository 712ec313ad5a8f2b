"""A standalone Flink cluster from PyFlink's own distribution, the Pulsar connector on its class path.

The JobManager and the TaskManager run in the foreground through the wheel's
bin/jobmanager.sh and bin/taskmanager.sh (the scripts start-cluster.sh calls),
so the stack owns their pids, logs and stop. FLINK_CONF_DIR and FLINK_LIB_DIR
point under .run/data/flink/: the wheel itself is never modified.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from string import Template

from rtai import paths
from rtai.bootstrap import java_artifacts, prereqs
from rtai.errors import PrerequisiteError
from rtai.stack.config import StackConfig
from rtai.stack.probes import http_json, http_ok
from rtai.stack.service import Service, data_dir

CONFIG_TEMPLATE = paths.INFRA_DIR / "flink" / "config.yaml"


def flink_home() -> Path:
    return paths.VENVS_DIR / "flink" / "lib" / "python3.11" / "site-packages" / "pyflink"


def conf_dir() -> Path:
    return data_dir("flink") / "conf"


def lib_dir() -> Path:
    return data_dir("flink") / "lib"


def prepare(config: StackConfig) -> list[str]:
    prereqs.check_java()
    home = flink_home()
    if not (home / "bin" / "jobmanager.sh").is_file():
        raise PrerequisiteError(f"Flink not found at {home}: run the set-up first (`make setup`)")
    connectors = java_artifacts.connector_jars()
    if not connectors:
        raise PrerequisiteError("the Flink Pulsar connector is missing: run the set-up first (`make setup`)")
    conf_dir().mkdir(parents=True, exist_ok=True)
    for name in ("log4j-console.properties", "log4j.properties", "log4j-cli.properties"):
        shutil.copy2(home / "conf" / name, conf_dir() / name)
    (conf_dir() / "config.yaml").write_text(
        Template(CONFIG_TEMPLATE.read_text()).substitute(
            rpc_port=config.flink.rpc_port,
            rest_port=config.flink.rest_port,
            taskmanager_slots=config.flink.taskmanager_slots,
            data_dir=data_dir("flink"),
            log_dir=paths.RUN_DIR / "logs",
            python=paths.venv_python("flink"),
            site_packages=flink_home().parent,
        )
    )
    shutil.rmtree(lib_dir(), ignore_errors=True)
    lib_dir().mkdir(parents=True)
    # flink-python on the class path of the cluster (not shipped per job): thread mode's embedded
    # CPython (pemja) loads libpython once per JVM; from a job's own class loader a second job fails.
    for jar in [*(home / "lib").glob("*.jar"), *(home / "opt").glob("flink-python-*.jar"), *connectors]:
        (lib_dir() / jar.name).symlink_to(jar)
    return []


def environment() -> dict[str, str]:
    return {
        "FLINK_HOME": str(flink_home()),
        "FLINK_CONF_DIR": str(conf_dir()),
        "FLINK_LIB_DIR": str(lib_dir()),
    }


def _taskmanager_registered(config: StackConfig) -> bool:
    overview = http_json(f"{config.flink_rest_url}/overview")
    return bool(overview and overview.get("taskmanagers", 0) >= 1)


def services(config: StackConfig) -> list[Service]:
    flink = config.flink
    scripts = flink_home() / "bin"
    return [
        Service(
            name="flink-jobmanager",
            ports={"rest": flink.rest_port, "rpc": flink.rpc_port},
            command=["bash", str(scripts / "jobmanager.sh"), "start-foreground"],
            env=environment(),
            ready=lambda: http_ok(f"{config.flink_rest_url}/config"),
            ready_timeout_s=flink.ready_timeout_s,
            stop_timeout_s=30,
            prepare=lambda: prepare(config),
        ),
        Service(
            name="flink-taskmanager",
            ports={},
            command=["bash", str(scripts / "taskmanager.sh"), "start-foreground"],
            env=environment(),
            ready=lambda: _taskmanager_registered(config),
            ready_timeout_s=flink.ready_timeout_s,
            stop_timeout_s=30,
        ),
    ]
