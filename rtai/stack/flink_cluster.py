"""A standalone Flink cluster from PyFlink's own distribution, the Pulsar connector on its class path.

The JobManager and the TaskManager run in the foreground through the wheel's
bin/jobmanager.sh and bin/taskmanager.sh (the scripts start-cluster.sh calls),
so the stack owns their pids, logs and stop. FLINK_CONF_DIR and FLINK_LIB_DIR
point under .run/data/flink/: the wheel itself is never modified.

Both run under the stack's supervisor (a killed one is started again) and, with
`high_availability = "zookeeper"`, the JobManager keeps its leader and job pointers in the
stack's ZooKeeper and its job graphs and checkpoint metadata under .run/data/flink/ha: a
restarted JobManager recovers the running jobs from their last checkpoint. The cluster keeps one
cluster-id (in .run/data/flink/cluster-id) across crashes and restarts, whether the supervisor
or `rtai stack up` starts the JobManager again, as Flink's ZooKeeper high availability expects;
only a clean `rtai stack down` ends it (rtai.stack.flink_job_record: its jobs stopped first).

With `mode = "reactive"` the JobManager is an application cluster (bin/standalone-job.sh) that
runs one job, [flink] application_job on application_pipeline, in Flink's reactive mode: the job
takes every slot there is and is rescaled, from its last checkpoint, whenever a TaskManager comes
or goes. `rtai stack scale taskmanagers N` starts or stops TaskManagers 2..max_taskmanagers (the
first is `flink-taskmanager`, the others `flink-taskmanager-<n>`); the count is kept for the next
`up`. A clean down keeps such a cluster (its job is the cluster): the next up resumes the job from
its last checkpoint when high availability is on.
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from pathlib import Path
from string import Template

from flink_jobs.errors import UserFacingError
from flink_jobs.jobs import MODULES
from rtai import paths
from rtai.bootstrap import java_artifacts, prereqs
from rtai.errors import PrerequisiteError
from rtai.security.credentials import read_secret
from rtai.stack import flink_reporter, secure_profile
from rtai.stack.config import StackConfig
from rtai.stack.probes import http_json, http_ok
from rtai.stack.service import Scrape, Service, data_dir

CONFIG_TEMPLATE = paths.INFRA_DIR / "flink" / "config.yaml"
JOBMANAGER = "flink-jobmanager"
TASKMANAGER = "flink-taskmanager"
PYTHON_DRIVER = "org.apache.flink.client.python.PythonDriver"  # flink-python's entry for a Python job


def conf_dir() -> Path:
    return data_dir("flink") / "conf"


def lib_dir() -> Path:
    return data_dir("flink") / "lib"


def taskmanagers_file() -> Path:
    return data_dir("flink") / "taskmanagers"


def taskmanager_name(number: int) -> str:
    return TASKMANAGER if number == 1 else f"{TASKMANAGER}-{number}"


def taskmanager_count(config: StackConfig) -> int:
    """The TaskManagers `up` starts: the last `rtai stack scale taskmanagers N`, else the config's."""
    path = taskmanagers_file()
    if not path.is_file():
        return config.flink.taskmanagers
    try:
        kept = int(path.read_text())
    except ValueError:
        raise UserFacingError(
            f"{path}: not a TaskManager count; `rtai stack scale taskmanagers N` writes it again"
        ) from None
    return min(max(kept, 1), config.flink.max_taskmanagers)


def cluster_id_file() -> Path:
    return data_dir("flink") / "cluster-id"


def ha_storage_dir() -> Path:
    return data_dir("flink") / "ha"


def cluster_id() -> str:
    """This cluster's high-availability cluster-id, made at its first start and kept until
    end_cluster: a JobManager started again under it finds its jobs in ZooKeeper."""
    path = cluster_id_file()
    if path.is_file():
        return path.read_text().strip()
    found = f"/rtai-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(found + "\n")
    return found


def end_cluster() -> None:
    """Forgets the cluster: the next start is a new one (new cluster-id, empty HA storage)."""
    cluster_id_file().unlink(missing_ok=True)
    shutil.rmtree(ha_storage_dir(), ignore_errors=True)


def high_availability_settings(config: StackConfig) -> str:
    """The config.yaml lines of ZooKeeper high availability ("" without it)."""
    if config.flink.high_availability != "zookeeper":
        return ""
    return (
        "high-availability.type: zookeeper\n"
        f"high-availability.zookeeper.quorum: 127.0.0.1:{config.zookeeper.port}\n"
        f"high-availability.storageDir: file://{ha_storage_dir()}\n"
        f"high-availability.cluster-id: {cluster_id()}\n"
        # With high availability the JobManager's RPC port is this key's (Flink's default: random).
        f"high-availability.jobmanager.port: {config.flink.rpc_port}\n"
        # A dead JobManager's leadership ends when its ZooKeeper session expires (Flink's default:
        # 60 s); the new one takes over after this.
        "high-availability.zookeeper.client.session-timeout: 10000\n"
    )


def secure_settings(config: StackConfig) -> str:
    """The config.yaml lines of the secure profile ("" without it): TLS on the internal connections
    (RPC, blobs, data exchange; both sides prove themselves with the stack's certificate) and on
    the REST API, which asks every client for a certificate of the local CA (mutual TLS: the
    `flink` CLI of this config, the stack's probes); web submission (jar upload) off. Flink reads
    the stores' password from this file only: it is written owner-only, under .run."""
    found = secure_profile.credentials(config)
    if found is None:
        return ""
    password = read_secret(found.flink_store_password)
    lines = ["web.submit.enable: false"]
    for scope in ("internal", "rest"):
        lines += [
            f"security.ssl.{scope}.enabled: true",
            f"security.ssl.{scope}.keystore: {found.flink_keystore}",
            f"security.ssl.{scope}.keystore-password: {password}",
            f"security.ssl.{scope}.key-password: {password}",
            f"security.ssl.{scope}.truststore: {found.flink_truststore}",
            f"security.ssl.{scope}.truststore-password: {password}",
        ]
    lines.append("security.ssl.rest.authentication-enabled: true")
    return "\n".join(lines) + "\n"


def prepare(config: StackConfig) -> list[str]:
    prereqs.check_java()
    home = paths.flink_home()
    if not (home / "bin" / "jobmanager.sh").is_file():
        raise PrerequisiteError(f"Flink not found at {home}: run the set-up first (`make setup`)")
    connectors = java_artifacts.connector_jars()
    if not connectors:
        raise PrerequisiteError("the Flink Pulsar connector is missing: run the set-up first (`make setup`)")
    conf_dir().mkdir(parents=True, exist_ok=True)
    for name in ("log4j-console.properties", "log4j.properties", "log4j-cli.properties"):
        shutil.copy2(home / "conf" / name, conf_dir() / name)
    config_file = conf_dir() / "config.yaml"
    config_file.touch(mode=0o600)
    config_file.chmod(0o600)
    config_file.write_text(
        Template(CONFIG_TEMPLATE.read_text()).substitute(
            rpc_port=config.flink.rpc_port,
            rest_port=config.flink.rest_port,
            taskmanager_slots=config.flink.taskmanager_slots,
            data_dir=data_dir("flink"),
            log_dir=paths.RUN_DIR / "logs",
            python=paths.venv_python("flink"),
            site_packages=paths.flink_home().parent,
        )
        + high_availability_settings(config)
        + secure_settings(config)
        + ("scheduler-mode: reactive\n" if config.flink.mode == "reactive" else "")
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
        "FLINK_HOME": str(paths.flink_home()),
        "FLINK_CONF_DIR": str(conf_dir()),
        "FLINK_LIB_DIR": str(lib_dir()),
    }


def _taskmanagers_registered(config: StackConfig, count: int) -> bool:
    overview = http_json(f"{config.flink_rest_url}/overview", secure_profile.mutual_tls(config))
    return bool(overview and overview.get("taskmanagers", 0) >= count)


def jobmanager_command(config: StackConfig) -> list[str]:
    """A session cluster's JobManager, or in reactive mode the application cluster of its one job."""
    scripts = paths.flink_home() / "bin"
    reporter = flink_reporter.dynamic_properties(config.flink.jobmanager_metrics_port)
    if config.flink.mode == "session":
        return ["bash", str(scripts / "jobmanager.sh"), "start-foreground", *reporter]
    pipeline = paths.PROJECT_ROOT / config.flink.application_pipeline
    return [
        "bash",
        str(scripts / "standalone-job.sh"),
        "start-foreground",
        *reporter,
        "--job-classname",
        PYTHON_DRIVER,
        "-pym",
        MODULES[config.flink.application_job],
        "--pipeline",
        str(pipeline),
        "--connector-from-classpath",
    ]


def taskmanager_services(config: StackConfig) -> list[Service]:
    """TaskManagers 1..max_taskmanagers; TaskManager n is ready once n are registered (they are
    started in order)."""
    flink = config.flink
    script = str(paths.flink_home() / "bin" / "taskmanager.sh")
    return [
        Service(
            name=taskmanager_name(number),
            ports={"metrics": flink.taskmanager_port(number)},
            command=[
                "bash",
                script,
                "start-foreground",
                *flink_reporter.dynamic_properties(flink.taskmanager_port(number)),
            ],
            env=environment(),
            ready=lambda number=number: _taskmanagers_registered(config, number),
            ready_timeout_s=flink.ready_timeout_s,
            stop_timeout_s=30,
            supervised=True,
            metrics=Scrape("metrics", job="flink"),
            needs=(JOBMANAGER,),
        )
        for number in range(1, flink.max_taskmanagers + 1)
    ]


def services(config: StackConfig) -> list[Service]:
    flink = config.flink
    return [
        Service(
            name=JOBMANAGER,
            ports={"rest": flink.rest_port, "rpc": flink.rpc_port, "metrics": flink.jobmanager_metrics_port},
            command=jobmanager_command(config),
            env=environment(),
            ready=lambda: http_ok(f"{config.flink_rest_url}/config", secure_profile.mutual_tls(config)),
            ready_timeout_s=flink.ready_timeout_s,
            stop_timeout_s=30,
            prepare=lambda: prepare(config),
            supervised=True,
            metrics=Scrape("metrics", job="flink"),
            needs=("zookeeper",),  # its high availability
        ),
        *taskmanager_services(config),
        Service(
            name="flink-job-watch",
            ports={"http": flink.job_watch_port},
            command=[sys.executable, "-m", "rtai.stack.flink_job_watch", "--port", str(flink.job_watch_port)],
            ready=lambda: http_ok(f"http://127.0.0.1:{flink.job_watch_port}/metrics"),
            ready_timeout_s=30,
            stop_timeout_s=10,
            metrics=Scrape("http", job="flink-job-watch"),
            needs=(JOBMANAGER,),
        ),
    ]
