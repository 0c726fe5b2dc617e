"""GB/T 28181 media: SDP offer/answer, PS muxing and RTP packetising (pure), senders."""
