"""What a pull request changes: per-module changes, touched paths, secret and docs findings."""
