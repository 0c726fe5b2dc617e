"""One blueprint per page of the web UI."""
