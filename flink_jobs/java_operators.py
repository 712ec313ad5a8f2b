"""The project's Java operators (java/io/github/pyflinkrealtimeai/batching, built by `make setup`
into the connector's jar folder), applied to PyFlink streams: batching in the JVM, so a Python
operator is called once per batch, not once per event, and a batch's outputs split back into
records before the sinks.
"""

from __future__ import annotations

from py4j.java_gateway import JavaClass, JavaObject
from pyflink.common import Types
from pyflink.datastream import DataStream, KeyedStream
from pyflink.java_gateway import get_gateway

from flink_jobs import events
from flink_jobs.config.pipeline_config import EventsSection, RedisWrites
from flink_jobs.errors import UserFacingError

PACKAGE = "io.github.pyflinkrealtimeai.batching"
KEY_TYPE = Types.INT()  # the key-group keys KeyGroupBatcher picks
RAW_BATCH = Types.LIST(Types.STRING())


def project_class(qualified_name: str) -> JavaClass:
    """One of the project's Java classes, or a clear error when its jar is not on the class path."""
    java_class = get_gateway().jvm
    for part in qualified_name.split("."):
        java_class = getattr(java_class, part)
    if not isinstance(java_class, JavaClass):
        raise UserFacingError(
            f"{qualified_name} is not on the class path: run `make setup`, which builds it into the Flink "
            "Pulsar connector's jar folder"
        )
    return java_class


def _java_class(name: str) -> JavaClass:
    return project_class(f"{PACKAGE}.{name}")


def batches_by_key_group(
    raw: DataStream,
    entity_field: str,
    max_parallelism: int,
    max_events: int,
    max_wait_ms: int,
    parallelism: int,
    flush_when_idle: bool,
) -> KeyedStream:
    """Raw JSON events in batches, one per key group of their `entity_field`, keyed so that a
    keyed Python operator gets each batch under its key group's key (KeyGroupBatcher), at
    `parallelism` (the source's: chained to it); with `flush_when_idle`, a batch also goes out
    when the source has nothing more to read (InputIdle)."""
    gateway = get_gateway()
    operator = _java_class("KeyGroupBatcher")(entity_field, max_parallelism, max_events, max_wait_ms, flush_when_idle)
    keyed_rows = Types.ROW([KEY_TYPE, RAW_BATCH])
    batched: JavaObject = raw._j_data_stream.transform("batch-by-key-group", keyed_rows.get_java_type_info(), operator)
    batched.uid("batch-by-key-group").setParallelism(parallelism)
    # As PyFlink's own key_by keys a stream of Row(key, value): by the first field, in a one-field row.
    keyed = batched.keyBy(gateway.jvm.KeyByKeySelector(), Types.ROW([KEY_TYPE]).get_java_type_info())
    return KeyedStream(keyed, RAW_BATCH, DataStream(batched))


def fetch_batches(
    raw: DataStream, max_events: int, max_wait_ms: int, parallelism: int, flush_when_idle: bool
) -> DataStream:
    """Raw events in one list per flush (FetchBatcher), chained to the source at `parallelism`:
    with `flush_when_idle`, a list goes out as soon as the source has nothing more to read."""
    operator = _java_class("FetchBatcher")(max_events, max_wait_ms, flush_when_idle)
    batched = raw._j_data_stream.transform("batch-fetches", RAW_BATCH.get_java_type_info(), operator)
    return DataStream(batched.uid("batch-fetches").setParallelism(parallelism))


def jvm_parsed_fetches(
    raw: DataStream,
    max_events: int,
    max_wait_ms: int,
    parallelism: int,
    flush_when_idle: bool,
    window: EventsSection,
    seed_text_file: str,
) -> tuple[DataStream, DataStream]:
    """Raw transactions parsed in the JVM, chained to the source (JvmParse, with FetchBatcher's
    flushes): one string of tagged E lines per flush for those the JVM vouches for, each card's
    seed history (`seed_text_file`, "" for none) with its first; and one list per flush of the
    others, for the Python parse."""
    operator = _java_class("JvmParse")
    parse = operator(max_events, max_wait_ms, flush_when_idle, strict_transactions(window), seed_text_file)
    parsed = raw._j_data_stream.transform("parse-in-jvm", Types.STRING().get_java_type_info(), parse)
    parsed.uid("parse-in-jvm").setParallelism(parallelism)
    return DataStream(parsed), DataStream(parsed.getSideOutput(operator.TO_PYTHON))


def strict_transactions(window: EventsSection) -> JavaObject:
    """The JVM's parse of the transactions it vouches for (events/StrictTransactions.java), with
    the schema's bounds and closed sets from flink_jobs/events.py and the pipeline's `window`."""
    return project_class("io.github.pyflinkrealtimeai.events.StrictTransactions")(
        events.MAX_EVENT_BYTES,
        events.MAX_AMOUNT,
        events.MAX_EVENT_ID_CHARS,
        events.MAX_FRAUD_PATTERN_CHARS,
        list(events.MERCHANT_CATEGORIES),
        list(events.CHANNELS),
        events.COUNTRY_CODE.pattern,
        events.CURRENCY_CODE.pattern,
        window.max_ahead_ms,
        window.max_behind_ms,
    )


def parsed_by_key_group(
    parsed: DataStream, entity_field: str, max_parallelism: int, jvm_parsed: DataStream | None = None
) -> tuple[KeyedStream, DataStream]:
    """A parse stage's tagged lines (one string per fetch) into batches per key group of their
    entity, keyed as batches_by_key_group's are, and the dead letters among them (ParsedKeyGroups);
    with `jvm_parsed` (jvm_parsed_fetches' lines), those routed too and keyed with them."""
    operator = _java_class("ParsedKeyGroups")
    routed, dead_letters = _routed(parsed, operator, entity_field, max_parallelism, "route-by-key-group")
    if jvm_parsed is not None:
        also, _ = _routed(jvm_parsed, operator, entity_field, max_parallelism, "route-jvm-parsed-by-key-group")
        routed = routed.union(also)
    keyed = routed._j_data_stream.keyBy(
        get_gateway().jvm.KeyByKeySelector(), Types.ROW([KEY_TYPE]).get_java_type_info()
    )
    return KeyedStream(keyed, RAW_BATCH, routed), dead_letters


def _routed(
    parsed: DataStream, operator: JavaClass, entity_field: str, max_parallelism: int, name: str
) -> tuple[DataStream, DataStream]:
    keyed_rows = Types.ROW([KEY_TYPE, RAW_BATCH])
    j_parsed = parsed._j_data_stream
    routed: JavaObject = j_parsed.transform(
        name, keyed_rows.get_java_type_info(), operator(entity_field, max_parallelism)
    )
    routed.uid(name).setParallelism(j_parsed.getParallelism())
    return DataStream(routed), DataStream(routed.getSideOutput(operator.DEAD_LETTERS))


def card_windows(
    batches: KeyedStream, computes_view: bool, parallelism: int, in_card_order: bool = False
) -> DataStream:
    """Each key group's batch with every card's window features, in the JVM's keyed state
    (cards/CardWindows.java): one document per batch, as the Python card stage writes it; with
    `in_card_order` (the feature job), a transaction older than its card's latest leaves as late."""
    function = project_class("io.github.pyflinkrealtimeai.cards.CardWindows")(computes_view, in_card_order)
    windows = batches._j_data_stream.process(function, Types.STRING().get_java_type_info())
    return DataStream(windows.setParallelism(parallelism))


def merged_batches(parts: DataStream, max_parts: int, drain_after_ms: int, name: str) -> DataStream:
    """Strings (per-key-group batches) merged into lists for the next Python operator (BatchMerger),
    one list per upstream flush: an empty string, the Python operator's answer to KeyGroupBatcher's
    flush end, closes it. An empty list asks that operator to finish the batches it has in flight:
    before every checkpoint barrier, at the end of input and `drain_after_ms` after a list that no
    other followed."""
    operator = _java_class("BatchMerger")(max_parts, drain_after_ms)
    merged = parts._j_data_stream.transform(name, Types.LIST(Types.STRING()).get_java_type_info(), operator)
    return DataStream(merged.uid(name))


def scoring_gate(parts: DataStream, max_held_parts: int, poll_ms: int, name: str) -> DataStream:
    """Strings (per-key-group batches) held while the scoring operator after it has no room and
    handed on as one list when it has (ScoringGate, `batch_start = "held"`); a list of POLL alone
    asks for the batches done when the scoring loop's done signal, which it looks at every
    `poll_ms`, says one is, an empty list for all of them (before every checkpoint barrier and at
    the end of input). The scoring operator and split_tagged_lines must follow it in its chain:
    they report its room on its thread."""
    operator = _java_class("ScoringGate")(max_held_parts, poll_ms)
    gated = parts._j_data_stream.transform(name, Types.LIST(Types.STRING()).get_java_type_info(), operator)
    return DataStream(gated.uid(name))


def redis_online_writes(merged: DataStream, redis: RedisWrites, name: str) -> DataStream:
    """Merged batches of card-window documents written into Feast's Redis online store by the JVM
    (feast/RedisOnlineWriter.java, one pipeline per batch, written before the next); out go the
    documents that hold dead letters or late transactions, without their rows."""
    password = redis.password
    function = project_class("io.github.pyflinkrealtimeai.feast.RedisOnlineWriter")(
        redis.url,
        redis.user,
        str(password.path()) if password.file else "",
        password.env,
        redis.project,
        redis.feature_view,
        redis.join_key,
        round(redis.timeout_s * 1000),
        redis.retries,
        redis.backoff_ms,
    )
    written = merged._j_data_stream.process(function, RAW_BATCH.get_java_type_info())
    return DataStream(written.name(name).uid(name))


def split_tagged_lines(batches: DataStream, name: str) -> tuple[DataStream, DataStream, DataStream, DataStream]:
    """Tagged lines (P, A, D, S + JSON) back into records: predictions, alerts, dead letters, shadow scores."""
    splitter = _java_class("TaggedLineSplitter")
    records = batches._j_data_stream.process(splitter(), Types.STRING().get_java_type_info())
    records.name(name).uid(name)
    return (
        DataStream(records),
        DataStream(records.getSideOutput(splitter.ALERTS)),
        DataStream(records.getSideOutput(splitter.DEAD_LETTERS)),
        DataStream(records.getSideOutput(splitter.SHADOW_SCORES)),
    )
