"""Steering cameras (PTZ): the operations, from the web UI, the CLI and the cascade, carried
out through ONVIF with a dead-man timer on the box."""
