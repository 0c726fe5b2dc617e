"""The live fan-out: one pull per camera feeds recording and every live consumer."""
