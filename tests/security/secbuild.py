"""Hand-made hostile archives for the security tests (generated at test time, never committed).

Everything here writes raw bytes with ``struct``/``zlib``/``lzma`` so headers the standard
library refuses to write (negative sizes, 1 GiB long names, sparse maps, lying sizes, zip
entries sharing bytes) can be produced. Big payloads are streamed into gzip files chunk by
chunk, so a 1 GiB "bomb" costs a few MiB of RAM and about one second to build.
"""

from __future__ import annotations

import gzip
import io
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

BLOCK = 512
MTIME = 1706695200  # 2024-01-31T10:00:00Z

# -- tar ----------------------------------------------------------------------------------------

REG = b"0"
HARD = b"1"
SYM = b"2"
CHR = b"3"
BLK = b"4"
DIR = b"5"
FIFO = b"6"
GNU_LONGNAME = b"L"
GNU_SPARSE = b"S"
PAX = b"x"


def _octal(value: int, width: int) -> bytes:
    """A NUL-terminated octal field; values too big for it use GNU base-256."""
    digits = width - 1
    if 0 <= value < 8**digits:
        return b"%0*o\0" % (digits, value)
    return _base256(value, width)


def _base256(value: int, width: int) -> bytes:
    """GNU binary number field: first byte 0x80 (positive) or 0xff (negative)."""
    if value < 0:
        value += 256 ** (width - 1) * 1  # two's complement over the remaining bytes
        body = value.to_bytes(width - 1, "big")
        return b"\xff" + body
    return b"\x80" + value.to_bytes(width - 1, "big")


def tar_header(
    name: bytes | str,
    size: int = 0,
    typeflag: bytes = REG,
    *,
    linkname: bytes | str = b"",
    mode: int = 0o644,
    devmajor: int = 0,
    devminor: int = 0,
    size_field: bytes | None = None,
    gnu: bool = True,
    extra: dict[int, bytes] | None = None,
) -> bytes:
    """One 512-byte header with a correct checksum.

    ``name`` is stored as raw bytes (no encoding checks: control characters, non-UTF-8 and
    ``..`` go in untouched) and must fit 100 bytes; use :func:`gnu_long_name` for longer
    ones. ``size_field`` replaces the 12-byte size field verbatim (lying or negative sizes),
    ``extra`` patches arbitrary offsets before the checksum is computed.
    """
    raw_name = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name
    raw_link = (
        linkname.encode("utf-8", "surrogateescape") if isinstance(linkname, str) else linkname
    )
    if len(raw_name) > 100 or len(raw_link) > 100:
        raise ValueError("name/linkname longer than 100 bytes: use gnu_long_name()")
    header = bytearray(BLOCK)
    header[0 : len(raw_name)] = raw_name
    header[100:108] = _octal(mode, 8)
    header[108:116] = _octal(0, 8)
    header[116:124] = _octal(0, 8)
    header[124:136] = size_field if size_field is not None else _octal(size, 12)
    header[136:148] = _octal(MTIME, 12)
    header[156:157] = typeflag
    header[157 : 157 + len(raw_link)] = raw_link
    header[257:265] = b"ustar  \0" if gnu else b"ustar\x0000"
    header[265:269] = b"root"
    header[297:301] = b"root"
    header[329:337] = _octal(devmajor, 8)
    header[337:345] = _octal(devminor, 8)
    for offset, value in (extra or {}).items():
        header[offset : offset + len(value)] = value
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def tar_file(name: bytes | str, data: bytes = b"", **kw: object) -> bytes:
    """Header plus padded data of one regular member."""
    return tar_header(name, len(data), REG, **kw) + pad(data)  # type: ignore[arg-type]


def tar_entry(name: bytes | str, typeflag: bytes, **kw: object) -> bytes:
    """A member without data (link, device, FIFO, directory)."""
    return tar_header(name, 0, typeflag, **kw)  # type: ignore[arg-type]


def tar_end() -> bytes:
    return b"\0" * (2 * BLOCK)


def gnu_long_name(name: bytes) -> bytes:
    """The GNU ``L`` pseudo-member that carries a long name for the member after it."""
    return tar_header(b"././@LongLink", len(name) + 1, GNU_LONGNAME) + pad(name + b"\0")


def pax_record(key: str, value: bytes | str) -> bytes:
    """One ``"<len> key=value\\n"`` record (the length counts itself)."""
    body = key.encode() + b"=" + (value.encode() if isinstance(value, str) else value) + b"\n"
    length = len(body) + 2
    while len(b"%d " % length + body) != length:
        length = len(b"%d " % length + body)
    return b"%d " % length + body


def pax_header(payload: bytes) -> bytes:
    """A PAX extended header carrying ``payload`` verbatim (records or garbage)."""
    return tar_header(b"./PaxHeaders/x", len(payload), PAX, gnu=False) + pad(payload)


def sparse_member(name: bytes | str, declared: int) -> bytes:
    """An old-GNU sparse member: no data stored, ``declared`` logical bytes in the real-size
    field at offset 483 (12 bytes), one sparse map entry describing a hole-only file."""
    extra = {
        386: _octal(declared, 12),  # sparse[0].offset: data at the very end
        398: _octal(0, 12),  # sparse[0].numbytes
        483: _octal(declared, 12),  # realsize
    }
    return tar_header(name, 0, GNU_SPARSE, extra=extra)


# -- compression --------------------------------------------------------------------------------


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def zeros(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    block = b"\0" * chunk
    while total > 0:
        yield block[: min(chunk, total)]
        total -= chunk


class _GzipWriter:
    """Streams pieces into a gzip file; repeated blocks are compressed once and the
    compressed bytes reused (each copy is a full-flush unit), so a 1 GiB payload of zeros is
    written in about a second with a few MiB of memory."""

    def __init__(self, out: io.BufferedWriter) -> None:
        self._out = out
        self._comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        self._crc = 0
        self._size = 0
        self._cache: dict[bytes, bytes] = {}
        out.write(b"\x1f\x8b\x08\x00" + struct.pack("<L", 0) + b"\x02\xff")

    def write(self, data: bytes) -> None:
        self._out.write(self._comp.compress(data))
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)

    def write_repeat(self, block: bytes, times: int) -> None:
        """``block`` ``times`` over: compressed once after a full flush (which leaves no
        state behind, so every copy encodes to the same bytes), then the encoding is reused."""
        if times <= 0:
            return
        self._out.write(self._comp.flush(zlib.Z_FULL_FLUSH))
        encoded = self._cache.get(block)
        if encoded is None:
            comp = zlib.compressobj(9, zlib.DEFLATED, -15)
            encoded = self._cache[block] = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
        for _ in range(times):
            self._out.write(encoded)
            self._crc = zlib.crc32(block, self._crc)
        self._size += len(block) * times

    def write_fill(self, total: int, byte: bytes = b"\0", chunk: int = 1 << 20) -> None:
        """``total`` copies of ``byte`` (cheap: see :meth:`write_repeat`)."""
        full, rest = divmod(total, chunk)
        self.write_repeat(byte * chunk, full)
        if rest:
            self.write(byte * rest)

    def close(self) -> None:
        self._out.write(self._comp.flush())
        self._out.write(struct.pack("<LL", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF))


@dataclass
class Zeros:
    """A run of ``byte`` (zero by default) inside a streamed gzip (see :func:`write_gzip`)."""

    count: int
    byte: bytes = b"\0"


@dataclass
class Repeat:
    """``block`` repeated ``times`` inside a streamed gzip (see :func:`write_gzip`)."""

    block: bytes
    times: int


def write_gzip(path: Path, parts: Iterable[bytes | Zeros | Repeat]) -> Path:
    """Write ``parts`` gzip-compressed to ``path`` (streamed; ``Zeros``/``Repeat`` are cheap)."""
    with path.open("wb") as handle:
        writer = _GzipWriter(handle)
        for part in parts:
            if isinstance(part, Zeros):
                writer.write_fill(part.count, part.byte)
            elif isinstance(part, Repeat):
                writer.write_repeat(part.block, part.times)
            else:
                writer.write(part)
        writer.close()
    return path


def xz_with_dictionary(data: bytes, dict_byte: int = 37) -> bytes:
    """An .xz stream whose LZMA2 block header asks for a huge dictionary.

    ``dict_byte`` is the LZMA2 property byte: size = (2 | (b & 1)) << (b // 2 + 11), so 37
    means 1.5 GiB. The data is compressed with a small dictionary, then the property byte in
    the block header is rewritten and the header CRC recomputed: decoders must allocate (or
    refuse) the declared dictionary.
    """
    stream = bytearray(lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                                     filters=[{"id": lzma.FILTER_LZMA2, "preset": 0}]))
    start = 12  # after the stream header
    header_len = (stream[start] + 1) * 4
    header = stream[start : start + header_len]
    at = header.find(b"\x21\x01")  # filter id LZMA2, one property byte
    if at < 0:
        raise AssertionError("LZMA2 filter flags not found")
    header[at + 2] = dict_byte
    struct.pack_into("<L", header, header_len - 4, zlib.crc32(bytes(header[:-4])))
    stream[start : start + header_len] = header
    return bytes(stream)


# -- zip ----------------------------------------------------------------------------------------

STORED, DEFLATED, DEFLATE64, BZIP2, LZMA = 0, 8, 9, 12, 14


@dataclass
class ZipEntry:
    name: bytes | str
    data: bytes = b""
    method: int = STORED
    flags: int = 0
    external_attr: int = 0o100644 << 16
    crc: int | None = None
    file_size: int | None = None
    compressed: bytes | None = None
    """Payload as stored; computed from ``data`` and ``method`` when None."""


def _zip_name(name: bytes | str) -> tuple[bytes, int]:
    if isinstance(name, bytes):
        return name, 0
    return name.encode("utf-8", "surrogateescape"), 0x800


def _stored_payload(entry: ZipEntry) -> bytes:
    if entry.compressed is not None:
        return entry.compressed
    if entry.method == STORED:
        return entry.data
    if entry.method == DEFLATED:
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        return comp.compress(entry.data) + comp.flush()
    if entry.method == BZIP2:
        import bz2

        return bz2.compress(entry.data)
    return entry.data


def zip_archive(entries: Iterable[ZipEntry], prefix: bytes = b"") -> bytes:
    """A zip written header by header (``prefix`` = junk prepended, offsets adjusted)."""
    body = bytearray(prefix)
    central = bytearray()
    count = 0
    for entry in entries:
        name, utf8 = _zip_name(entry.name)
        payload = _stored_payload(entry)
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        size = len(entry.data) if entry.file_size is None else entry.file_size
        flags = entry.flags | utf8
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, entry.method, 0, 0x5821,
                            crc, len(payload), size, len(name), 0) + name + payload
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 0x031E, 20, flags, entry.method,
                               0, 0x5821, crc, len(payload), size, len(name), 0, 0, 0, 0,
                               entry.external_attr, offset) + name
        count += 1
    start = len(body)
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), start, 0)
    return bytes(body + central + eocd)


def zip_simple(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A plain deflated zip written by ``zipfile`` (benign nested bundles)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


def zip_overlap_bomb(copies: int = 200, blob_bytes: int = 50 << 20) -> bytes:
    """``copies`` central-directory entries that all point at one deflated blob of zeros."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunks = [comp.compress(block) for block in zeros(blob_bytes)]
    payload = b"".join(chunks) + comp.flush()
    crc = 0
    for block in zeros(blob_bytes):
        crc = zlib.crc32(block, crc)
    name = b"var/log/waagent.log"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, DEFLATED, 0, 0x5821, crc,
                        len(payload), blob_bytes, len(name), 0) + name + payload
    central = bytearray()
    for index in range(copies):
        entry_name = b"var/log/waagent.log.%d" % index
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 0x031E, 20, 0, DEFLATED, 0,
                               0x5821, crc, len(payload), blob_bytes, len(entry_name), 0, 0, 0,
                               0, 0o100644 << 16, 0) + entry_name
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, copies, copies, len(central),
                       len(local), 0)
    return local + bytes(central) + eocd


def zip_claiming_entries(count: int) -> bytes:
    """A tiny zip whose end record claims ``count`` entries (wrapping to ZIP64 if needed)."""
    real = zip_archive([ZipEntry("var/log/waagent.log", b"x\n")])
    eocd_at = real.rfind(b"PK\x05\x06")
    cd_offset, = struct.unpack_from("<L", real, eocd_at + 16)
    cd_size, = struct.unpack_from("<L", real, eocd_at + 12)
    if count <= 0xFFFF:
        return real[:eocd_at] + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count,
                                            cd_size, cd_offset, 0)
    eocd64_at = eocd_at
    eocd64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size,
                         cd_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, eocd64_at, 1)
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                       0xFFFFFFFF, 0)
    return real[:eocd_at] + eocd64 + locator + eocd


# -- bundles ------------------------------------------------------------------------------------


def log_line(message: str, minute: int = 0, level: str = "INFO") -> bytes:
    return (f"2024-01-31T10:{minute:02d}:00.000000Z {level} ExtHandler ExtHandler "
            f"{message}\n").encode()


BENIGN_LOG = b"".join(
    log_line(text, i)
    for i, text in enumerate(
        [
            "Azure Linux Agent Version: 2.9.1.1",
            "Goal State Agent version 2.9.1.1",
            "ProcessExtensionsGoalState completed [incarnation_3 120 ms]",
            "[HEARTBEAT] Agent WALinuxAgent-2.9.1.1 is running as the goal state agent",
        ]
    )
)
"""A short, healthy waagent.log: no rule fires on it."""

WIRESERVER_FAILURE = (
    "Fetch failed: [HttpError] [HTTP Failed] GET http://168.63.129.16/machine/?comp=goalstate "
    "-- IOError [Errno 111] Connection refused -- 6 attempts made"
)
"""A record WAA-NET-001 (critical) counts; eight of them make the rule fire (exit 1)."""


def failing_log(count: int = 8, first_minute: int = 10, suffix: str = "") -> bytes:
    """A waagent.log on which WAA-NET-001 fires: the benign start, then ``count`` failures."""
    return BENIGN_LOG + b"".join(
        log_line(WIRESERVER_FAILURE + suffix, first_minute + i, "WARNING") for i in range(count)
    )


def tar_of(*members: bytes) -> bytes:
    """Members (headers + padded data, see ``tar_file``) plus the end-of-archive blocks."""
    return b"".join(members) + tar_end()


# -- XML (docs/security.md, checklist row 33) -----------------------------------------------------

SECRET_MARKER = "SECRET-CONTENT-7f3a9c"
"""Written into a local file the hostile documents point at: it must never show up anywhere."""


def hostile_xml_samples(secret: Path, url: str) -> dict[str, bytes]:
    """The malicious documents of docs/security.md, checklist row 33."""
    lol = "".join(f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n' for i in range(1, 10))
    samples = {
        "xxe_file": f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
                    "\n<GoalState><Incarnation>&x;</Incarnation></GoalState>",
        "xxe_param": f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY % p SYSTEM "file://{secret}">'
                     " %p;]>\n<GoalState/>",
        "xxe_http": f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "{url}/x">]>\n'
                    "<GoalState>&x;</GoalState>",
        "ext_dtd": f'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "{url}/evil.dtd">\n<GoalState/>',
        "billion_laughs": '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol0 "lol">\n'
                          f"{lol}]>\n<lolz>&lol9;</lolz>",
        "quadratic": '<!DOCTYPE r [<!ENTITY a "' + "A" * 100_000 + '">]><r>' + "&a;" * 20_000
                     + "</r>",
        "internal_entity": '<?xml version="1.0"?>\n<!DOCTYPE GoalState [<!ENTITY inc "2">]>\n'
                           "<GoalState><Incarnation>&inc;</Incarnation></GoalState>",
        "xinclude": '<GoalState xmlns:xi="http://www.w3.org/2001/XInclude"><Incarnation>'
                    f'<xi:include href="file://{secret}" parse="text"/></Incarnation></GoalState>',
        "stylesheet_pi": f'<?xml-stylesheet type="text/xsl" href="{url}/x.xsl"?><GoalState>'
                         "<Incarnation>3</Incarnation></GoalState>",
        "utf16_doctype": ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x SYSTEM '
                          f'"file://{secret}">]><GoalState>&x;</GoalState>'),
    }
    out = {k: v.encode() for k, v in samples.items()}
    out["utf16_doctype"] = samples["utf16_doctype"].encode("utf-16")
    return out


ENTITY_SAMPLES = ("xxe_file", "xxe_param", "xxe_http", "ext_dtd", "billion_laughs", "quadratic",
                  "internal_entity", "utf16_doctype")
