"""GB/T 28181 lower node: SIP signalling, MANSCDP bodies and (later) PS-over-RTP media."""
