"""Smoke contracts: the checks a module must pass on its source or a sandbox copy."""
