"""Feature tooling: the history backfill, batch statistics, the Feast repository and CLI,
point-in-time training sets."""
