"""`rtai job upgrade-card-state`: a savepoint of the inference job's python batching design made
restorable into the java design (the default).

The two keep each card's history differently: python, a value state per card under the
`card-realtime-features` operator; java, a map state per key group (card id -> history) under
`card-realtime-batch-features`. The history itself, the versioned text of state_layout.py, is the
same. Flink's State Processor API (java/.../state/CardStateUpgrade.java) moves each card's text
under its key group, removes the operators the java design does not have, and keeps the rest (the
source's positions), writing a new savepoint; the java design resumes from it as from its own.
The old job's batching operator must hold no events (none under way when the savepoint was
taken): otherwise the upgrade refuses, naming how many, as those events were read and would be
lost.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from flink_jobs.errors import UserFacingError
from rtai import paths
from rtai.bootstrap import java_artifacts, prereqs

MAIN_CLASS = "io.github.pyflinkrealtimeai.state.CardStateUpgrade"
# The python design's operator holding each card's history, and the java design's (fraud_scoring.py).
OLD_CARDS = ("card-realtime-features", "card_history")
NEW_CARDS = ("card-realtime-batch-features", "card_histories")
# The python design's operators the java design does not have: the scoring operator's batches
# (waiting for their flush, or in flight) must be empty; the parse stage holds no state.
REMOVED = ("enrich-and-score:waiting", "enrich-and-score:in_flight", "parse:")


def java_17_options() -> list[str]:
    """The JVM options Flink's own config gives every Flink process on Java 17 (env.java.opts.all:
    the modules Flink reads by reflection)."""
    config = yaml.safe_load((paths.flink_home() / "conf" / "config.yaml").read_text())
    return str(config["env"]["java"]["opts"]["all"]).split()


def upgrade(savepoint: Path, target: Path, max_parallelism: int) -> None:
    if not (savepoint / "_metadata").is_file():
        raise UserFacingError(f"{savepoint} is not a savepoint or retained checkpoint: it has no _metadata")
    if target.exists():
        raise UserFacingError(f"{target} exists: the upgraded savepoint goes to a new directory")
    class_path = [*java_artifacts.connector_jars(), *sorted((paths.flink_home() / "lib").glob("*.jar"))]
    command = [
        str(prereqs.check_java()),
        *java_17_options(),
        "-cp",
        ":".join(map(str, class_path)),
        MAIN_CLASS,
        str(savepoint.resolve()),
        str(target.resolve()),
        *OLD_CARDS,
        *NEW_CARDS,
        str(max_parallelism),
        *REMOVED,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        refused = [line for line in done.stderr.splitlines() if "IllegalStateException" in line]
        raise UserFacingError(
            f"the card state upgrade of {savepoint} failed: "
            + (refused[-1].split("IllegalStateException: ", 1)[-1] if refused else done.stderr[-2000:])
        )
