"""Health reporting: what the node tells central operations about itself."""
