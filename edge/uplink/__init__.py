"""The node's link to the centre: bytes by purpose, the SIM's monthly budget, the modem."""
