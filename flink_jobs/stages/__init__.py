"""The jobs' stages, one per file, grouped by role: input, features, enrich, inference, output."""
