"""A single ZooKeeper server for the Flink cluster's high availability (ZooKeeper mode).

ZooKeeper comes from the Pulsar binary distribution the set-up already fetches (its lib/ has
the server's jars); the server runs as `QuorumPeerMain` on infra/zookeeper/zoo.cfg, its data
under .run/data/zookeeper/data, kept across restarts."""

from __future__ import annotations

import socket
from string import Template

from rtai import paths
from rtai.bootstrap import java_artifacts, prereqs
from rtai.errors import PrerequisiteError
from rtai.stack.config import StackConfig
from rtai.stack.probes import LOCALHOST
from rtai.stack.service import Service, data_dir

CONFIG_TEMPLATE = paths.INFRA_DIR / "zookeeper" / "zoo.cfg"
LOG4J_CONFIG = paths.INFRA_DIR / "pulsar" / "log4j2.xml"


def prepare(config: StackConfig) -> list[str]:
    prereqs.check_java()
    if not (java_artifacts.pulsar_home() / "lib").is_dir():
        raise PrerequisiteError("ZooKeeper's jars (the Pulsar distribution) not found: run the set-up (`make setup`)")
    (data_dir("zookeeper") / "zoo.cfg").write_text(
        Template(CONFIG_TEMPLATE.read_text()).substitute(data_dir=data_dir("zookeeper"), port=config.zookeeper.port)
    )
    return []


def four_letter_word(port: int, word: str, timeout_s: float = 2.0) -> str:
    """ZooKeeper's answer to a four-letter command ("" when nothing answered)."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout_s) as sock:
            sock.sendall(word.encode())
            return sock.recv(1024).decode(errors="replace")
    except OSError:
        return ""


def service(config: StackConfig) -> Service:
    data = data_dir("zookeeper")
    return Service(
        name="zookeeper",
        ports={"client": config.zookeeper.port},
        command=[
            prereqs.java_command(),
            "-Xms64m",
            "-Xmx256m",
            "-cp",
            f"{java_artifacts.pulsar_home() / 'lib'}/*",
            f"-Djava.io.tmpdir={data / 'tmp'}",
            f"-Dlog4j.configurationFile={LOG4J_CONFIG}",
            "-Dzookeeper.jmx.log4j.disable=true",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(data / "zoo.cfg"),
        ],
        cwd=data,
        ready=lambda: four_letter_word(config.zookeeper.port, "ruok") == "imok",
        ready_timeout_s=config.zookeeper.ready_timeout_s,
        stop_timeout_s=15,
        prepare=lambda: prepare(config),
        supervised=True,
    )
