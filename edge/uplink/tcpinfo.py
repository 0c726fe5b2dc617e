"""What the kernel counted on one TCP socket (Linux ``TCP_INFO``): payload bytes and
segments each way, so wire bytes can be told without a packet capture, and how long ago
data last arrived, so a stalled connection can be told from a quiet one."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

# struct tcp_info (linux/tcp.h): the fields we read and their offsets; the struct only
# ever grows at its end, and every kernel since 4.2 has these
_LAST_DATA_RECV = (52, "I")
_BYTES_ACKED, _BYTES_RECEIVED = (120, "Q"), (128, "Q")
_SEGS_OUT, _SEGS_IN = (136, "I"), (140, "I")
_SIZE = 144
IPV4_TCP_HEADERS = 52  # IPv4 20 + TCP 20 + timestamp option 12 (Linux's default)
IPV4_UDP_HEADERS = 28  # IPv4 20 + UDP 8


@dataclass(frozen=True, slots=True)
class TcpCounters:
    bytes_sent: int  # payload the peer acknowledged
    bytes_received: int
    segments_out: int  # data segments and bare ACKs alike
    segments_in: int
    last_data_recv_ms: int  # since data last arrived

    @property
    def wire_sent(self) -> int:
        return self.bytes_sent + IPV4_TCP_HEADERS * self.segments_out

    @property
    def wire_received(self) -> int:
        return self.bytes_received + IPV4_TCP_HEADERS * self.segments_in


def tcp_counters(sock: socket.socket) -> TcpCounters | None:
    """None where the kernel does not say (closed socket, not Linux, an old kernel)."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _SIZE)
    except (OSError, AttributeError):
        return None
    if len(raw) < _SIZE:
        return None

    def field(spec: tuple[int, str]) -> int:
        return int(struct.unpack_from("=" + spec[1], raw, spec[0])[0])

    return TcpCounters(field(_BYTES_ACKED), field(_BYTES_RECEIVED), field(_SEGS_OUT),
                       field(_SEGS_IN), field(_LAST_DATA_RECV))
