"""Cameras over ONVIF (Profile S/T): finding them (WS-Discovery), reading what they offer,
and the client the steering and the clock keeping use. The SOAP side is onveef (see
docs/onvif.md for why)."""
