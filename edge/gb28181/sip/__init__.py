"""SIP (RFC 3261) as GB/T 28181 uses it. Pure: bytes in, values out."""
