"""Where the web UI answers, without Flask: for the supervisor's health probe, the demo
and ``edge status``."""

from __future__ import annotations

import ssl
import urllib.request

from edge.config import EdgeConfig


def probe(cfg: EdgeConfig) -> bool:
    """The supervisor's health check: does the web UI answer within 2 s?"""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # our own self-signed
    try:
        with urllib.request.urlopen(url(cfg) + "healthz", timeout=2,
                                    context=context if cfg.web.tls_cert else None) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def url(cfg: EdgeConfig) -> str:
    host = "127.0.0.1" if cfg.web.listen in ("0.0.0.0", "::") else cfg.web.listen
    return f"{'https' if cfg.web.tls_cert else 'http'}://{host}:{cfg.web.port}/"
