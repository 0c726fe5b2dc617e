"""The web UI's own process (``edge _web``, started and watched by ``edge run``): the
Flask app under cheroot, a production WSGI server with TLS built in (pure Python, so it
runs on the ARM box as it does here). Its threads stream live and recorded video, so
there are enough of them for a 16-tile grid and a few more viewers."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from pathlib import Path

from cheroot import wsgi
from cheroot.server import HTTPConnection, HTTPRequest
from cheroot.ssl.builtin import BuiltinSSLAdapter

from edge.config import EdgeConfig
from edge.log import also_to_file
from edge.record.index import Index
from edge.supervisor import EXIT_BLOCKED
from edge.web.accounts import Accounts, setup_token
from edge.web.address import url
from edge.web.app import create_app
from edge.web.guard import Guard

logger = logging.getLogger(__name__)
THREADS = 48  # each live tile or playback holds one while it streams
GUARD = Guard()


class GuardedRequest(HTTPRequest):
    def read_request_headers(self) -> bool:
        ok = bool(super().read_request_headers())
        conn = self.conn
        length = self.inheaders.get(b"Content-Length", b"0")
        size = int(length) if length.isdigit() and len(length) < 13 else 0
        if b"Transfer-Encoding" in self.inheaders:
            size = max(size, 1 << 20)  # a chunked body of unknown size: a megabyte's time
        GUARD.head_read(id(conn), conn.remote_addr or "-", size)
        conn.head_read = True
        return ok


class GuardedConnection(HTTPConnection):
    """A connection whose requests are read under edge/web/guard.py's limits."""

    RequestHandlerClass = GuardedRequest
    head_read = False

    def communicate(self) -> bool:
        address = self.remote_addr or "-"
        self.head_read = False
        if not GUARD.start(id(self), address, self._cut):
            try:
                self.wfile.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                 b"Retry-After: 5\r\nConnection: close\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass
            return False
        try:
            return bool(super().communicate())
        finally:
            GUARD.end(id(self), address, self.head_read)

    def _cut(self) -> None:
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _reap(stopping: threading.Event) -> None:
    """Cut the requests past their deadline, once a second."""
    while not stopping.wait(1.0):
        for cut in GUARD.expired():
            cut()


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
    server.ConnectionClass = GuardedConnection
    if cfg.web.tls_cert:
        server.ssl_adapter = BuiltinSSLAdapter(cfg.web.tls_cert, cfg.web.tls_key)
    elif cfg.web.listen not in ("127.0.0.1", "::1", "localhost"):
        logger.warning("web: 未配置证书, 密码以明文经过网络 no TLS pair ([web].tls_cert): passwords "
                       "cross the LAN in plain text on %s:%d (the box's first boot makes a pair)",
                       cfg.web.listen, cfg.web.port)
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
    threading.Thread(target=_reap, args=(stopping,), name="web-guard", daemon=True).start()
    logger.info("web: listening on %s:%d (%s)", cfg.web.listen, cfg.web.port, url(cfg))
    while not stopping.wait(1.0) and serving.is_alive():
        pass
    server.stop()
    return 0 if stopping.is_set() else 1  # serve() died: the supervisor restarts us
