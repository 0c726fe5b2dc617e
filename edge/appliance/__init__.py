"""The box itself: its firewall from the config, and what first boot sets up."""
