"""Each card's window history at the end of the transaction history, as the backfill leaves it
(`rtai features backfill` writes it beside the offline tables), read by a job when it starts.

A job's keyed state begins empty: without a seed, a fresh job's first transaction of a card has
no predecessor (seconds_since_prev_txn -1, amount_to_mean_ratio 1.0) and near-empty windows,
values the training set holds only for a card's very first transaction, and the model scores
them so. A card the job holds no state for starts from its seed instead, so the job's features
go on from where the backfill's ended and a fresh job scores like the training set was made. A
card the job already holds state for never reads its seed (a restored job keeps its own).

The seed covers the history's transactions only: the job's topic must carry the later ones, not
the history again (a transaction in both would count twice). A seed older than the windows
costs nothing wrong: CardHistory drops what no window of the new transaction reaches, and keeps
the running mean and the previous transaction's time.

The file is Parquet, `card_id` (int64, sorted) and `history` (the keyed state's text,
state_layout.encode_history). Each parallel task reads all of it, about 100 bytes a card as
Arrow columns, and decodes a card's text when the card first comes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flink_jobs.errors import UserFacingError
from flink_jobs.stages.features.card_windows import CardHistory
from flink_jobs.state_layout import StateLayoutError, decode_history, encode_history

log = logging.getLogger(__name__)
SEED_FILE = "data/card_histories.parquet"  # in the feature repository, beside the backfill's tables
INFERENCE_FIELD = "inference_job.card_history_seed"  # the config keys that name a seed file
FEATURE_FIELD = "feature_job.card_history_seed"


class HistorySeed:
    def __init__(self, cards: np.ndarray, histories: pa.Array) -> None:
        self.cards, self.histories = cards, histories

    def __len__(self) -> int:
        return len(self.cards)

    def text(self, card: int) -> str | None:
        """The card's history text (state_layout's) at the seed's end, or None for a card the history does not hold."""
        at = int(np.searchsorted(self.cards, card))
        if at == len(self.cards) or self.cards[at] != card:
            return None
        return self.histories[at].as_py()

    def history(self, card: int) -> CardHistory | None:
        """The card's history at the seed's end, or None for a card the history does not hold."""
        text = self.text(card)
        return None if text is None else decode_history(text)


def starting_history(seed: HistorySeed | None, card: int) -> CardHistory:
    """Where a card the job holds no state for starts: its seed, else an empty history."""
    return (seed and seed.history(card)) or CardHistory()


def write(histories: Mapping[int, CardHistory], path: Path) -> int:
    """Writes every card's history, ordered by card; returns the number of cards."""
    cards = sorted(histories)
    table = pa.table(
        {
            "card_id": pa.array(cards, pa.int64()),
            "history": pa.array([encode_history(histories[card]) for card in cards], pa.string()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    pq.write_table(table, temporary)
    temporary.replace(path)
    return len(cards)


def load(path: str, field: str) -> HistorySeed | None:
    """The seed in `path` (from the working directory, the project root where the jobs run), or
    None for "" and for a file not there (a warning naming `field`: a stack whose history was
    never backfilled starts every card empty, as before seeds). A file that is there but not a
    seed fails the job with a message naming `field`."""
    if not path:
        return None
    if not Path(path).is_file():
        log.warning(
            "%s: no such file %s: every card starts with an empty history (run `rtai features backfill`)",
            field,
            Path(path).resolve(),
        )
        return None
    try:
        # One thread: Arrow's dataset reader with its thread pool hangs inside a Flink task that
        # opened a gRPC channel first (PyFlink's thread mode; the scoring stage opens before this).
        table = pq.ParquetFile(path).read(columns=["card_id", "history"], use_threads=False)
    except (OSError, pa.ArrowException, KeyError) as err:
        raise SeedError(
            f"{field}: cannot read card histories from {Path(path).resolve()} ({err}); run `rtai features "
            f'backfill` to write them again, or set {field} = "" to start every card empty'
        ) from err
    cards = table.column("card_id").to_numpy()
    if not pa.types.is_integer(table.schema.field("card_id").type) or np.any(np.diff(cards) <= 0):
        raise SeedError(f"{field}: {path} is not a card history seed (card_id must be integers in ascending order)")
    histories = table.column("history").combine_chunks()
    if len(histories):
        try:
            decode_history(histories[0].as_py())
        except (StateLayoutError, KeyError, TypeError, ValueError) as err:
            raise SeedError(f"{field}: {path} holds no card history in a known layout: {err}") from err
    log.info("%s: %d cards' histories from %s", field, len(cards), path)
    return HistorySeed(cards, histories)


def text_copy(path: str, field: str) -> str:
    """The seed's text copy for the JVM's parse (cards/SeedTexts.java: one `card_id TAB history`
    line per card, beside the Parquet file, written again when older than it), or "" when the
    seed is "" or not there. Written where the job is built, from the same working directory as
    the tasks read it."""
    if not path:
        return ""
    parquet = Path(path)
    copy = parquet.with_suffix(".tsv")
    if parquet.is_file() and copy.is_file() and copy.stat().st_mtime >= parquet.stat().st_mtime:
        return str(copy)  # current: the Parquet file is not read again
    seed = load(path, field)
    if seed is None:
        return ""
    # Its own name: two jobs built at once, or the backfill writing the Parquet file's temporary.
    temporary = copy.with_name(f"{copy.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as out:
        for card, text in zip(seed.cards.tolist(), seed.histories.to_pylist(), strict=True):
            out.write(f"{card}\t{text}\n")
    temporary.replace(copy)
    return str(copy)


def check(path: str, field: str) -> None:
    """Reads the seed where the job is built, so a file that is there but not a seed stops the
    job at its start with one message, not in every task's open and again on each restart."""
    load(path, field)


class SeedError(UserFacingError):
    """A seed file named in the pipeline config that cannot be read."""
