"""stategate: gate upgrades of stateful services on docker compose platforms."""

__version__ = "0.1.0"
