"""Signed updates: bundles, venv slots, the switch, the check and the rollback."""
