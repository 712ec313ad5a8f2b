"""Real-time feature stages: per-card windows in event-time order, and the push to Feast."""
