"""Alerts: events turned into messages on the duty officer's phone (issue 21)."""
