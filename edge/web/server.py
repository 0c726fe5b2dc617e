"""The web UI's own process (``edge _web``, started and watched by ``edge run``): the
Flask app under cheroot, a production WSGI server with TLS built in (pure Python, so it
runs on the ARM box as it does here). Its threads stream live and recorded video, so
there are enough of them for a 16-tile grid and a few more viewers."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from edge.config import EdgeConfig
from edge.log import also_to_file
from edge.record.index import Index
from edge.supervisor import EXIT_BLOCKED
from edge.web.accounts import Accounts, setup_token
from edge.web.address import url
from edge.web.app import create_app

logger = logging.getLogger(__name__)
THREADS = 48  # each live tile or playback holds one while it streams


def run_web(cfg: EdgeConfig, config_path: Path) -> int:
    also_to_file(cfg.data_dir, "web")
    index = Index(cfg.data_dir)  # the supervisor made the schema; started alone, make it
    Accounts.create_schema(index.db)
    token = setup_token(cfg.data_dir, Accounts(index.db))
    index.close()
    if token:
        logger.warning("web: 尚无用户, 首次设置口令 no user yet; setup token %s: open %ssetup "
                       "or run `edge user add NAME --role admin --config %s`", token, url(cfg),
                       config_path)
    server = wsgi.Server((cfg.web.listen, cfg.web.port), create_app(cfg, config_path),
                         numthreads=THREADS, server_name="edge")
    if cfg.web.tls_cert:
        server.ssl_adapter = BuiltinSSLAdapter(cfg.web.tls_cert, cfg.web.tls_key)
    try:
        server.prepare()
    except OSError as exc:
        logger.error("web: cannot listen on %s:%d: %s", cfg.web.listen, cfg.web.port, exc)
        return EXIT_BLOCKED

    # serve() runs in a thread and the main thread only waits: a handler that raised into
    # serve() could land in a finaliser (a refused plain-HTTP connection's __del__) and be lost
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    serving = threading.Thread(target=server.serve, name="web-serve", daemon=True)
    serving.start()
    logger.info("web: listening on %s:%d (%s)", cfg.web.listen, cfg.web.port, url(cfg))
    while not stopping.wait(1.0) and serving.is_alive():
        pass
    server.stop()
    return 0 if stopping.is_set() else 1  # serve() died: the supervisor restarts us
