"""MANSCDP XML bodies of GB/T 28181 SIP MESSAGEs: parse queries, render responses. Pure.

Charset: platforms declare ``encoding="GB2312"`` and CPython's XML parser refuses
multi-byte declared encodings ("multi-byte encodings are not supported"), so bodies
are decoded to ``str`` by their declared charset first (GB2312/GBK read as GB18030,
the superset that also has rare characters in village names), the declaration is
dropped, and the text is parsed with defusedxml (no entities, no DTD: an XML bomb is
a ManscdpError like any other bad body). Replies declare GB2312 and are encoded as
GB18030 unless the platform is configured for UTF-8.

Multi-packet answers (Catalog, RecordInfo): WVP completes a query when the number of
distinct items received for the SN reaches ``SumNum``, so every packet carries the
same SN and SumNum, ``Num`` counts the items of that packet, and no item repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import defusedxml
import defusedxml.ElementTree

from edge.digits import parse_uint
from edge.errors import ProtocolError

ROOTS = ("Query", "Control", "Notify", "Response")
MAX_BODY_BYTES = 64 * 1024
_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_-]+)[\"'][^>]*\?>")
_ANY_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_WIRE_CHARSETS = {"gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030",
                  "utf-8": "utf-8", "utf8": "utf-8"}


class ManscdpError(ProtocolError):
    """A MANSCDP body we cannot accept; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class ManscdpMessage:
    root: str  # Query, Control, Notify or Response
    cmd_type: str
    sn: int
    device_id: str
    fields: dict[str, str] = field(default_factory=dict)  # simple child elements, by tag
    element: Element | None = field(default=None, compare=False, repr=False)


def decode_body(data: bytes) -> str:
    """Body bytes -> XML text without its declaration, honouring the declared charset."""
    match = _DECLARATION.match(data[:200])
    declared = match.group(1).decode("ascii").lower() if match else "utf-8"
    tried = [_WIRE_CHARSETS.get(declared, declared), "utf-8", "gb18030"]
    for charset in dict.fromkeys(tried):
        try:
            text = data.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
        return _ANY_DECLARATION.sub("", text, count=1)
    raise ManscdpError(f"MANSCDP body is neither {declared} nor UTF-8/GB18030 text")


def parse_body(data: bytes) -> ManscdpMessage:
    if len(data) > MAX_BODY_BYTES:
        raise ManscdpError(f"MANSCDP body of {len(data)} bytes exceeds {MAX_BODY_BYTES}")
    text = decode_body(data)
    try:
        root = defusedxml.ElementTree.fromstring(text)
    except defusedxml.DefusedXmlException as exc:
        raise ManscdpError(f"MANSCDP body refused: {type(exc).__name__}") from None
    except SyntaxError as exc:  # ParseError
        raise ManscdpError(f"MANSCDP body is not well-formed XML: {exc}") from None
    if root.tag not in ROOTS:
        raise ManscdpError(f"MANSCDP root <{root.tag}> is not one of {', '.join(ROOTS)}")
    fields = {child.tag: (child.text or "").strip() for child in root if len(child) == 0}
    cmd_type = fields.get("CmdType", "")
    if not cmd_type:
        raise ManscdpError("MANSCDP body has no CmdType")
    sn = parse_uint(fields.get("SN", ""), "MANSCDP SN", ManscdpError, max_digits=10)
    return ManscdpMessage(root.tag, cmd_type, sn, fields.get("DeviceID", ""), fields, root)


def encode_body(xml: str, charset: str = "GB2312") -> bytes:
    """Prefix the declaration for ``charset`` and encode (GB2312 is written as GB18030)."""
    wire = _WIRE_CHARSETS.get(charset.lower())
    if wire is None:
        raise ValueError(f"unsupported MANSCDP charset {charset!r}")
    return f'<?xml version="1.0" encoding="{charset}"?>\r\n{xml}'.encode(wire)


def render(root: str, cmd_type: str, sn: int, device_id: str,
           fields: Sequence[tuple[str, str]] = (), inner: str = "",
           charset: str = "GB2312") -> bytes:
    """A flat MANSCDP document; ``inner`` is already-rendered XML (lists)."""
    body = "".join(_element(k, v) for k, v in fields)
    xml = (f"<{root}>\r\n<CmdType>{cmd_type}</CmdType>\r\n<SN>{sn}</SN>\r\n"
           f"<DeviceID>{escape(device_id)}</DeviceID>\r\n{body}{inner}</{root}>\r\n")
    return encode_body(xml, charset)


def render_list_packets(root: str, cmd_type: str, sn: int, device_id: str, list_tag: str,
                        items: Sequence[Sequence[tuple[str, str | Sequence[tuple[str, str]]]]],
                        per_packet: int,
                        head: Sequence[tuple[str, str]] = (),
                        charset: str = "GB2312", max_bytes: int = 0) -> list[bytes]:
    """Split ``items`` into packets with SumNum (all) and ``<list_tag Num=...>`` (this one):
    at most ``per_packet`` items each and, with ``max_bytes``, no more bytes than that where
    one item alone fits (a UDP MESSAGE over 4G: GB/T 28181 catalogs are split for this)."""
    if per_packet < 1:
        raise ValueError("per_packet must be >= 1")
    fields = list(head) + [("SumNum", str(len(items)))]
    rendered = ["<Item>\r\n" + "".join(
        _element(k, v) if isinstance(v, str) else render_group(k, v) for k, v in item)
        + "</Item>\r\n" for item in items]
    chunks: list[list[str]] = [[]]
    size = overhead = len(_listing(root, cmd_type, sn, device_id, fields, list_tag, [],
                                   charset))
    wire = _WIRE_CHARSETS[charset.lower()]
    for item in rendered:
        grows = len(item.encode(wire, errors="replace"))
        if chunks[-1] and (len(chunks[-1]) >= per_packet
                           or (max_bytes and size + grows > max_bytes)):
            chunks.append([])
            size = overhead
        chunks[-1].append(item)
        size += grows
    return [_listing(root, cmd_type, sn, device_id, fields, list_tag, chunk, charset)
            for chunk in chunks]


def _listing(root: str, cmd_type: str, sn: int, device_id: str,
             fields: Sequence[tuple[str, str]], list_tag: str, chunk: list[str],
             charset: str) -> bytes:
    listing = f'<{list_tag} Num="{len(chunk)}">\r\n{"".join(chunk)}</{list_tag}>\r\n'
    return render(root, cmd_type, sn, device_id, fields, listing, charset)


def render_group(tag: str, fields: Sequence[tuple[str, str]]) -> str:
    """A nested element such as ``<BasicParam>...</BasicParam>`` for ``render(inner=...)``."""
    return f"<{tag}>\r\n" + "".join(_element(k, v) for k, v in fields) + f"</{tag}>\r\n"


def _element(tag: str, value: str) -> str:
    return f"<{tag}>{escape(value)}</{tag}>\r\n"
