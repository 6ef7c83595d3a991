"""Operator experience: the shared instance, CLI progress and summaries, --select, predictions from scratch,
readable failures."""
