"""Policy: classes, gate rules and verdicts (pure: no I/O here except ``load``)."""
