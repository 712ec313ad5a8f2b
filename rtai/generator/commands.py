"""`rtai generate history|stream`: the generator's command line, for the project's CLI to register.

Imports stay inside the commands, as in rtai.cli: the parser is built before any
environment is known to have numpy, pyarrow or pulsar-client.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from rtai import paths
from rtai.arg_types import positive

DEFAULT_SEED = 42
DEFAULT_CUSTOMERS = 20_000
DEFAULT_HISTORY = paths.RUN_DIR / "data" / "generator" / "transactions.parquet"
DEFAULT_DAYS = 30
DEFAULT_EVENTS_PER_DAY = 40_000


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")  # it seeds numpy and prefixes event ids
    return value


def _epoch_ms(text: str) -> int:
    """An ISO-8601 time; without an offset it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    return round((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def _cmd_history(args: argparse.Namespace) -> None:
    write_history(
        args.out,
        seed=args.seed,
        days=args.days,
        events_per_day=args.events_per_day,
        customers=args.customers,
        end_ms=args.end,
    )


def write_history(
    out: Path = DEFAULT_HISTORY,
    *,
    seed: int = DEFAULT_SEED,
    days: int = DEFAULT_DAYS,
    events_per_day: int = DEFAULT_EVENTS_PER_DAY,
    customers: int = DEFAULT_CUSTOMERS,
    end_ms: int | None = None,
) -> None:
    """`rtai generate history`: past transactions to Parquet, ending at `end_ms` (default: now, down to the hour)."""
    from rtai.console import step
    from rtai.generator import history, rhythm

    hour_ms = rhythm.HOUR_MS
    end_ms = end_ms if end_ms is not None else time.time_ns() // 1_000_000 // hour_ms * hour_ms
    step(f"generating {days} days of transactions, {events_per_day:,} a day on average, into {out}")
    report = history.write(out, seed=seed, end_ms=end_ms, days=days, events_per_day=events_per_day, customers=customers)
    print(
        f"wrote {report.path}: {report.rows:,} rows, {report.path.stat().st_size / 1e6:.1f} MB, "
        f"fraud rate {report.fraud_rate:.2%}, {report.seconds:.1f} s"
    )


def _cmd_stream(args: argparse.Namespace) -> None:
    from rtai.console import step
    from rtai.generator import population, stream
    from rtai.monitoring import process_metrics
    from rtai.stack import config as stack_config
    from rtai.stack import secure_profile

    stack = stack_config.load()
    service_url = args.service_url or stack.pulsar_service_url
    options = secure_profile.pulsar_client_options(stack, "generator")
    if args.token_file:
        options["token_file"] = args.token_file
    if args.tls_trust_certs_file:
        options["tls_trust_certs_file"] = args.tls_trust_certs_file
    count = args.count if args.count is not None else max(1, round(args.rate * args.duration_s))
    people = population.build(args.seed, args.customers)
    step(f"publishing {count:,} transactions at {args.rate:,g}/s to {args.topic} at {service_url}")
    labels = _delayed_labels(args, service_url, options)
    with process_metrics.serving("generator"):
        report = stream.publish(
            service_url,
            args.topic,
            people,
            seed=args.seed,
            rate=args.rate,
            count=count,
            client_options=options,
            on_sent=labels.add if labels else None,
        )
    print(
        f"published {report.sent:,} events to {report.topic} in {report.seconds:.1f} s: "
        f"{report.rate:,.0f} events/s (target {args.rate:,g}/s), at most {report.max_lag_ms:.0f} ms behind schedule"
    )
    if labels:
        unsent = labels.drain(args.wait_for_labels_s)
        print(f"published {labels.sent:,} labels to {args.labels_topic}; {unsent:,} not yet due were left unsent")


def _delayed_labels(args: argparse.Namespace, service_url: str, options: dict):
    if not args.labels_topic:
        return None
    from flink_jobs.config.topics import full_name
    from rtai import pulsar_client
    from rtai.generator.labels import DelayedLabels

    client = pulsar_client.connect(service_url, **options)
    labels = DelayedLabels(client, full_name(args.labels_topic), args.label_median_s, args.seed)
    labels.start()
    return labels


def _add_population_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed", type=_seed, default=DEFAULT_SEED, help=f"the same seed, the same output (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--customers",
        type=positive(int),
        default=DEFAULT_CUSTOMERS,
        help=f"customers in the population; about 1.3 cards each (default {DEFAULT_CUSTOMERS:,})",
    )


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Registers `generate` with its `history` and `stream` commands on the project's CLI."""
    generate = subparsers.add_parser(
        "generate", help="synthetic card transactions with labelled fraud: a Parquet history or a live Pulsar stream"
    )
    kinds = generate.add_subparsers(dest="generate_command", required=True)

    text = "write past transactions to Parquet, event time in an `event_timestamp` column"
    history = kinds.add_parser("history", help=text, description=text)
    _add_population_arguments(history)
    history.add_argument("--out", type=Path, default=DEFAULT_HISTORY, help=f"Parquet file (default {DEFAULT_HISTORY})")
    history.add_argument(
        "--days", type=positive(int), default=DEFAULT_DAYS, help=f"days of history (default {DEFAULT_DAYS})"
    )
    history.add_argument(
        "--events-per-day",
        type=positive(int),
        default=DEFAULT_EVENTS_PER_DAY,
        help=f"average transactions a day (default {DEFAULT_EVENTS_PER_DAY:,})",
    )
    history.add_argument(
        "--end", type=_epoch_ms, help="end of the history, ISO-8601, UTC unless given (default: now, down to the hour)"
    )
    history.set_defaults(func=_cmd_history)

    text = "publish live transactions to a Pulsar topic at a steady rate, event time = now"
    stream = kinds.add_parser("stream", help=text, description=text)
    _add_population_arguments(stream)
    stream.add_argument("--topic", default="transactions", help="Pulsar topic (default transactions)")
    stream.add_argument("--rate", type=positive(float), default=1000.0, help="events per second (default 1000)")
    length = stream.add_mutually_exclusive_group()
    length.add_argument("--duration-s", type=positive(float), default=60.0, help="seconds to run (default 60)")
    length.add_argument("--count", type=positive(int), help="events to send, instead of a duration")
    stream.add_argument("--service-url", help="Pulsar broker (default: the local stack's, from its stack.toml)")
    stream.add_argument(
        "--token-file",
        type=Path,
        help="a file holding the Pulsar role's token (default in the stack's secure profile: the generator role's)",
    )
    stream.add_argument(
        "--tls-trust-certs-file",
        help="the CA certificate of a pulsar+ssl:// broker's (default in the secure profile: the stack's CA)",
    )
    stream.add_argument(
        "--labels-topic", help="also publish each transaction's truth there, delayed (rtai.generator.labels)"
    )
    stream.add_argument(
        "--label-median-s",
        type=positive(float),
        default=3 * 86_400.0,
        help="median delay of a fraud's label (a legitimate one's: 4x); default 3 days",
    )
    stream.add_argument(
        "--wait-for-labels-s",
        type=float,
        default=0.0,
        help="after the stream, wait up to this long for the labels still due (default 0: leave them unsent)",
    )
    stream.set_defaults(func=_cmd_stream)
