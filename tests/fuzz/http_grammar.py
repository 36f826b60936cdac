"""Grammar-aware HTTP/1.x request streams for differential fuzzing (a hypothesis strategy).

A stream is 1-4 pipelined requests built from the RFC 9112 grammar: request line, field lines, body
(Content-Length or chunked). Every element is drawn *clean* (valid by the grammar, in one of the forms
real clients send: a strict parser accepts it) or, with a probability set per stream by its ``noise``
level, *dirty* (one of the forms where parsers are known to disagree, or to be attacked):

* request line: methods (known, unknown, lower case, CONNECT), targets (origin, absolute, asterisk,
  authority forms; fragments, raw bytes >= 0x80, characters browsers encode, bad %-escapes),
  versions (1.0, 1.1, 1.2, 2.0, malformed), separators (SP, runs, HTAB, VT);
* field lines: whitespace of every kind before the name, between the name and the colon, around the
  value (SP, HTAB, none, runs; VT, FF, NUL, CR, LF, DEL, ESC, obs-text), obs-fold, names that are not
  tokens, name case;
* framing: Content-Length (leading zeros, signs, ``0x``, lists, repeated, conflicting, too large,
  not matching the body), Transfer-Encoding (case, ``chunked, chunked``, ``identity``, codings
  before or after chunked, quoted, repeated lines, on HTTP/1.0), both together in either order;
* chunked bodies: chunk-size in either hex case with leading zeros, signs, ``0x``, spaces, overflow,
  a size that does not match the data; chunk extensions (names, values, quoted strings, BWS, broken
  quoting); chunk data not followed by CRLF; trailer fields (clean and dirty like any field line);
* line ends: CRLF, bare LF, bare CR, CR CR LF, LF CR (request line, field lines, chunk lines, end of
  head);
* connection management: HTTP/1.0 vs 1.1, ``Connection`` (close, keep-alive, lists, obs-text),
  ``Expect: 100-continue``, Host missing, repeated or invalid; blank lines between requests;
* a last pass inserts, deletes or duplicates a few bytes (streams of the two noisiest levels).

Why a tape: each request is built from one hypothesis-drawn byte string read as a sequence of
decisions (:class:`Tape`). A hypothesis draw costs ~30 µs here and a request takes ~150 decisions, so
drawing each decision separately made generation 95% of the test's cost; one ``binary`` draw per
request costs about as much as one decision. Every decision reads byte 0 as the clean (first)
choice, and a tape that runs out reads zeros, so hypothesis still shrinks a failure towards fewer
requests (the list), fewer dirty elements and shorter values (bytes towards zero).

Nothing here imports wsgicore.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TypeVar

from hypothesis import strategies as st

__all__ = ["NOISE_LEVELS", "TAPE_SIZE", "Tape", "build_request", "build_stream", "request_stream"]

T = TypeVar("T")

#: Percent chance that each element is drawn dirty; one level per stream (0, all clean, shrinks first).
NOISE_LEVELS = (0, 1, 3, 10, 30)
#: Bytes of decisions per request: more than the longest request reads.
TAPE_SIZE = 320


class Tape:
    """Decisions read from bytes; past the end every decision reads 0 (the clean, first choice)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        pos = self.pos
        self.pos = pos + 1
        return self.data[pos] if pos < len(self.data) else 0

    def below(self, n: int) -> int:
        """0 .. n-1 (n <= 65536)."""
        if n <= 256:
            return self.byte() % n
        return (self.byte() << 8 | self.byte()) % n

    def chance(self, percent: int) -> bool:
        """True with probability ``percent`` (for uniform bytes); byte 0 reads False."""
        return percent > 0 and self.byte() * 100 >= 256 * (100 - percent)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def maybe(self, percent: int, clean: T, dirty: Sequence[T]) -> T:
        """``clean``, or with probability ``percent`` one of ``dirty``."""
        return self.pick(dirty) if self.chance(percent) else clean

    def one_of(self, percent: int, clean: Sequence[T], dirty: Sequence[T]) -> T:
        """One of the valid forms ``clean`` or, with probability ``percent``, one of ``dirty``."""
        return self.maybe(percent, self.pick(clean), dirty)

    def blob(self, max_size: int) -> bytes:
        """Raw bytes, 0 to ``max_size`` of them."""
        size = self.below(max_size + 1)
        data = self.data[self.pos : self.pos + size]
        self.pos += size
        return data + bytes(size - len(data))

    def text(self, alphabet: bytes, max_size: int) -> bytes:
        return bytes(alphabet[self.byte() % len(alphabet)] for _ in range(self.below(max_size + 1)))


# ------------------------------------------------------------------ request line

EOL = b"\r\n"
_DIRTY_EOL = [b"\n", b"\r", b"\r\r\n", b"\n\r", b" \r\n", b"\t\r\n"]

_CLEAN_METHODS = [b"GET", b"GET", b"POST", b"POST", b"PUT", b"DELETE", b"PATCH", b"HEAD", b"OPTIONS"]
_DIRTY_METHODS = [b"CONNECT", b"get", b"Post", b"FOO", b"M-SEARCH", b"PROPFIND", b"PURGE", b"PRI",
                  b"QUERY", b"G(ET", b"GE\x00T", b"G\x80T", b"", b"GET /"]
_PCHAR = b"abcxyzABZ0189-._~!$&'()*+,;=:@"
_QCHAR = _PCHAR + b"/?"
_PCT = [b"%2F", b"%41", b"%e9", b"%00", b"%25", b"%20", b"%zz", b"%", b"%2"]
_DIRTY_TARGETS = [
    b"*", b"http://example.com/a?b=c", b"https://h:8080/", b"HTTP://H/x", b"http://h", b"ftp://h/",
    b"http://u:p@h/", b"example.com:443", b"h:80", b"a/b", b"/a#frag", b"/a?b#c", b"/caf\xc3\xa9",
    b"/\x80", b'/"q"', b"/<x>", b"/{a}", b"/a\\b", b"/a`b", b"/a|b^c[d]", b"/?q=\\", b'/?q="',
    b"/a b", b"/a\tb", b"/\x7f", b"/\x00", b"", b"//", b"/?", b"/%zz", b"/a?b c",
]
_CLEAN_VERSIONS = [b"HTTP/1.1"] * 7 + [b"HTTP/1.0"]
_DIRTY_VERSIONS = [b"HTTP/1.2", b"HTTP/1.9", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.0", b"http/1.1",
                   b"HTTP/1", b"HTTP/11", b"HTTP/1.10", b"HTTP/1.x", b"HTTP /1.1", b"HTTP/1.1 ",
                   b"HTTP/01.1", b""]
_DIRTY_SP = [b"  ", b"\t", b"", b"\x0b", b" \t"]


def _eol(tape: Tape, noise: int) -> bytes:
    return tape.maybe(noise, EOL, _DIRTY_EOL)


def _origin_form(tape: Tape, noise: int) -> bytes:
    path = b"/" + b"/".join(tape.text(_PCHAR, 6) for _ in range(tape.below(4)))
    if tape.chance(min(3 * noise, 100)):
        pos = tape.below(len(path) + 1)
        path = path[:pos] + tape.pick(_PCT) + path[pos:]
    if tape.chance(25):
        path += b"?" + tape.text(_QCHAR, 8)
    return path


def _request_line(tape: Tape, noise: int) -> tuple[bytes, bytes]:
    """The request line with its line end, and the version."""
    method = tape.one_of(noise, _CLEAN_METHODS, _DIRTY_METHODS)
    target = tape.maybe(noise, _origin_form(tape, noise), _DIRTY_TARGETS)
    if method == b"OPTIONS" and tape.chance(min(5 * noise, 100)):
        target = b"*"
    version = tape.one_of(noise, _CLEAN_VERSIONS, _DIRTY_VERSIONS)
    sp1 = tape.maybe(noise, b" ", _DIRTY_SP)
    sp2 = tape.maybe(noise, b" ", _DIRTY_SP)
    return method + sp1 + target + sp2 + version + _eol(tape, noise), version


# ------------------------------------------------------------------ field lines

# OWS (RFC 9110 §5.6.3) is SP / HTAB, any number: all clean. The common forms come up most.
_CLEAN_OWS = [b" ", b" ", b" ", b"", b"", b"\t", b"  ", b" \t", b"\t \t"]
_CLEAN_TRAILING_OWS = [b"", b"", b"", b"", b" ", b" ", b"\t", b" \t ", b"   "]
_DIRTY_OWS = [b"\x0b", b"\x0c", b"\x00", b"\r", b"\n", b"\x7f", b" \x0b", b"\x1b", b"\x85", b"\xa0",
              b" \r ", b"\x0c "]
_DIRTY_BEFORE_NAME = [b" ", b"\t", b"\x00", b"\r"]
_DIRTY_BEFORE_COLON = [b" ", b"\t", b"  ", b"\x00", b"\x0b"]
_FOLDS = [b"\r\n ", b"\r\n\t", b"\n ", b"\r\n  ", b"\r\n\r\n "]
_FOLDED = [b"x", b"chunked", b"5", b"close"]


def field_line(tape: Tape, name: bytes, value: bytes, noise: int) -> bytes:
    """``name: value`` with clean or dirty whitespace around each part, and its line end."""
    before_name = tape.maybe(noise, b"", _DIRTY_BEFORE_NAME)
    before_colon = tape.maybe(noise, b"", _DIRTY_BEFORE_COLON)
    ows1 = tape.one_of(noise, _CLEAN_OWS, _DIRTY_OWS)
    ows2 = tape.one_of(noise, _CLEAN_TRAILING_OWS, _DIRTY_OWS)
    fold = tape.maybe(noise // 2, b"", _FOLDS)
    if fold:
        # obs-fold (RFC 9112 §5.2): the value, or a second part of it, on a continuation line.
        value = fold + value if tape.chance(50) else value + fold + tape.pick(_FOLDED)
    return before_name + name + before_colon + b":" + ows1 + value + ows2 + _eol(tape, noise)


def _case(tape: Tape, name: bytes) -> bytes:
    """Field names are case-insensitive: each of these is clean."""
    return tape.pick([name, name.lower(), name.upper()])


_CLEAN_HOSTS = [b"example.com", b"h", b"h:8080", b"127.0.0.1", b"[::1]:80", b"xn--caf-dma.example"]
_DIRTY_HOSTS = [b"a b", b"a@b", b"h:x", b"", b"h/", b"a\x80", b"[::1", b"h:80:80", b"h,i"]
_EXTRA_NAMES = [b"X-A", b"Accept", b"Cookie", b"User-Agent", b"X_Under", b"Cache-Control",
                b"X-Forwarded-For", b"Upgrade"]
_DIRTY_NAMES = [b"X A", b"X@A", b"X\x00A", b"", b"X\x80", b"(X)", b'X"A', b"X\x7f", b"X/A", b"X\tA"]
_VALUE_CHARS = b"abcXYZ019;=,/\"'()%-_ \x80\xe9\xff"
_CLEAN_CONNECTION = [b"keep-alive", b"close", b"Close", b"keep-alive, close", b"close, te", b"TE",
                     b"Keep-Alive", b"upgrade"]
_DIRTY_CONNECTION = [b"close\x85", b"close\xa0", b"clo se", b"close\x0b", b"\x0bclose", b"close;",
                     b",close", b"close,", b"keep-alive\x00", b'"close"', b"close\t,", b"close ,x"]
_CLEAN_EXPECT = [b"100-continue", b"100-Continue", b"100-CONTINUE"]
_DIRTY_EXPECT = [b"100-continue, foo", b"", b"foo", b"100-continue\x85", b"100-continue;a=b"]


def _value(tape: Tape) -> bytes:
    return tape.text(_VALUE_CHARS, 12).strip(b" ")


# ------------------------------------------------------------------ framing

_CLEAN_TE = [b"chunked", b"chunked", b"Chunked", b"CHUNKED"]
_DIRTY_TE = [b"chunked, chunked", b"identity", b"identity, chunked", b"gzip, chunked",
             b"chunked, gzip", b"gzip", b'"chunked"', b"chunked;q=1", b"chunked ,", b", chunked",
             b"chunked,", b"xchunked", b"chunk", b"chunked\x0b", b"chunked\x00", b"",
             b"chunked, identity", b"\tchunked", b"chunked\x85", b"ch\x00unked", b"deflate,chunked",
             b"chunked,,", b"chunked , chunked", b"chunked\t"]


def _length_forms(n: int) -> tuple[list[bytes], list[bytes]]:
    d = b"%d" % n
    clean = [d, d, d, b"0" + d, b"000" + d]
    dirty = [b"+" + d, b"-" + d, b"0x%x" % n, d + b", " + d, d + b"," + d, d + b" " + d, b"",
             d + b".0", b"1" * 20, b"9" * 19, b"%d" % (n + 1), b"%d" % max(n - 1, 0), b"%d" % (n + 7),
             b"\xef\xbc\x95", b"1_0", d + b";", b"0" * 30 + d, b"-0", b"+0"]
    return clean, dirty


def _chunk_size(tape: Tape, size: int, noise: int) -> bytes:
    clean = [b"%x" % size, b"%x" % size, b"%X" % size, b"0%x" % size, b"000%x" % size]
    dirty = [b"+%x" % size, b"-%x" % size, b"0x%x" % size, b" %x" % size, b"%x " % size,
             b"%x\t" % size, b"1" + b"0" * 16, b"f" * 17, b"f" * 16, b"0" * 20 + b"%x" % size,
             b"%x" % (size + 1), b"%x" % max(size - 1, 0), b"", b"g", b"%x%x" % (size, size)]
    return tape.one_of(noise, clean, dirty)


_CLEAN_EXT = [b"", b"", b"", b"", b"", b";a", b";a=b", b';a="b c"', b";a=b;c=d", b';a="\\""',
              b';a=""', b";A-1=~"]
# BWS around ";" and "=" (RFC 9112 §7.1.1): valid, but rare in practice (and llhttp refuses it).
_BWS_EXT = [b" ;a=b", b"; a = b", b"\t;\ta", b";a =b", b';a= "b"']
_DIRTY_EXT = [b";", b";=b", b";a=", b";a=b c", b";a=\x00", b';a="b', b";a=\x80", b';a="\x7f"',
              b";a\x0b", b" ", b";a=b;", b';a="\\', b";a\rb", b';a="b"c']
_DIRTY_DATA_END = [b"", b"\n", b"\r", b"XY", b"\r\r\n", b" \r\n", b"\r\n\r\n"]
_TRAILER_NAMES = [b"X-T", b"Expires", b"Content-Length", b"Transfer-Encoding", b"X T"]


def _chunk_ext(tape: Tape, noise: int) -> bytes:
    return tape.maybe(5, tape.one_of(noise, _CLEAN_EXT, _DIRTY_EXT), _BWS_EXT)


def chunked_body(tape: Tape, body: bytes, noise: int) -> bytes:
    """``body`` in the chunked coding, each chunk line and data end clean or dirty."""
    cuts = sorted({1 + tape.below(max(1, len(body))) for _ in range(tape.below(4))})
    bounds = [0, *[c for c in cuts if c < len(body)], len(body)]
    out = bytearray()
    for start, end in itertools.pairwise(bounds):
        piece = body[start:end]
        if not piece:
            continue
        out += _chunk_size(tape, len(piece), noise) + _chunk_ext(tape, noise) + _eol(tape, noise)
        out += piece + tape.maybe(noise, EOL, _DIRTY_DATA_END)
    out += tape.one_of(noise, [b"0", b"0", b"00", b"0000"], [b"", b"0x0", b"-0", b"+0", b"0 "])
    out += _chunk_ext(tape, noise) + _eol(tape, noise)
    for _ in range(tape.pick([0, 0, 0, 1, 1, 2])):
        out += field_line(tape, tape.maybe(noise, b"X-Trailer", _TRAILER_NAMES), _value(tape), noise)
    out += _eol(tape, noise)
    return bytes(out)


def _framing(tape: Tape, noise: int, http10: bool) -> tuple[list[bytes], bytes]:
    """The framing field lines and the bytes that follow the head."""
    body = tape.blob(40)
    if tape.chance(10):
        body *= 2 + tape.below(12)  # up to 520 bytes: chunk sizes of three hex digits
    kind = tape.pick(["none", "length", "chunked", "chunked"])
    lines: list[bytes] = []
    if kind == "none":
        return lines, tape.maybe(noise, b"", [body])  # bytes after a head that declares no body
    if kind == "length" or (http10 and not noise):
        # (HTTP/1.0 has no chunked coding, RFC 9112 §6.1: only noisy streams send it.)
        clean, dirty = _length_forms(len(body))
        value = tape.one_of(noise, clean, dirty)
        lines.append(field_line(tape, _case(tape, b"Content-Length"), value, noise))
        extra = tape.maybe(noise, "", ["same", "other", "te", "te_first"])
        if extra in ("same", "other"):
            again = value if extra == "same" else tape.pick(dirty)
            lines.append(field_line(tape, _case(tape, b"Content-Length"), again, noise))
        elif extra:
            te = field_line(tape, _case(tape, b"Transfer-Encoding"), tape.pick(_CLEAN_TE + _DIRTY_TE),
                            noise)
            lines.insert(0 if extra == "te_first" else 1, te)
            # The classic CL.TE layout: a chunked body; the declared length is the raw body's, so
            # the two framings cover different bytes.
            if tape.chance(50):
                body = chunked_body(tape, body, noise)
        return lines, body
    value = tape.one_of(noise, _CLEAN_TE, _DIRTY_TE)
    lines.append(field_line(tape, _case(tape, b"Transfer-Encoding"), value, noise))
    extra = tape.maybe(noise, "", ["te_again", "te_other", "cl", "cl_first"])
    if extra in ("te_again", "te_other"):
        again = value if extra == "te_again" else tape.pick(_DIRTY_TE)
        lines.append(field_line(tape, _case(tape, b"Transfer-Encoding"), again, noise))
    encoded = chunked_body(tape, body, noise)
    if extra in ("cl", "cl_first"):
        declared = tape.pick([len(encoded), len(body), 0, max(len(encoded) - 5, 0)])
        cl = field_line(tape, _case(tape, b"Content-Length"), b"%d" % declared, noise)
        lines.insert(0 if extra == "cl_first" else len(lines), cl)
    return lines, encoded


# ------------------------------------------------------------------ requests and streams


def build_request(tape: Tape, noise: int) -> bytes:
    """One request: request line, field lines in any order, blank line, body."""
    line, version = _request_line(tape, noise)
    http10 = version == b"HTTP/1.0"
    fields: list[bytes] = []
    hosts = tape.maybe(noise, 0 if http10 and tape.chance(50) else 1, [0, 2])
    for _ in range(hosts):
        host = tape.one_of(noise, _CLEAN_HOSTS, _DIRTY_HOSTS)
        fields.append(field_line(tape, _case(tape, b"Host"), host, noise))
    framing, body = _framing(tape, noise, http10)
    fields += framing
    if tape.chance(25):
        value = tape.one_of(noise, _CLEAN_CONNECTION, _DIRTY_CONNECTION)
        name = tape.pick([b"Connection"] * 7 + [b"Proxy-Connection"])
        fields.append(field_line(tape, _case(tape, name), value, noise))
    if tape.chance(20):
        value = tape.one_of(noise, _CLEAN_EXPECT, _DIRTY_EXPECT)
        fields.append(field_line(tape, _case(tape, b"Expect"), value, noise))
    for _ in range(tape.pick([0, 0, 1, 2])):
        name = tape.one_of(noise, _EXTRA_NAMES, _DIRTY_NAMES)
        value = tape.pick([b"websocket", b"h2c"]) if name == b"Upgrade" else _value(tape)
        fields.append(field_line(tape, name, value, noise))
    # Any order: swap each field with one at or after it (Fisher-Yates).
    for i in range(len(fields) - 1):
        j = i + tape.below(len(fields) - i)
        fields[i], fields[j] = fields[j], fields[i]
    return line + b"".join(fields) + _eol(tape, noise) + body


_BETWEEN = [b"\r\n", b"\n", b"\r\n\r\n", b" ", b"\r"]
_NASTY = [b"\r", b"\n", b"\r\n", b"\x00", b" ", b"\t", b":", b";", b"\x0b", b"0", b"\xff", b",",
          b"\r\n\r\n", b"0\r\n\r\n", b"Transfer-Encoding: chunked\r\n", b"Content-Length: 3\r\n"]


def build_stream(noise: int, tapes: Sequence[bytes], mutations: bytes = b"") -> bytes:
    """The stream of one request per tape; ``mutations`` drives the last, byte-level pass (only
    for ``noise`` >= 10). Deterministic: the same arguments give the same bytes."""
    out = bytearray()
    for index, data in enumerate(tapes):
        tape = Tape(data)
        if index:
            out += tape.maybe(noise, b"", _BETWEEN)
        out += build_request(tape, noise)
    if noise >= 10:
        tape = Tape(mutations)
        for _ in range(len(mutations) // 4):
            op, pos = tape.pick(["insert", "delete", "duplicate"]), tape.below(len(out) + 1)
            if op == "insert":
                out[pos:pos] = tape.pick(_NASTY)
            elif op == "delete":
                del out[pos : pos + 1 + tape.below(4)]
            else:
                out[pos:pos] = out[pos : pos + 1 + tape.below(16)]
    return bytes(out)


def request_stream(max_requests: int = 4) -> st.SearchStrategy[bytes]:
    """1 to ``max_requests`` pipelined requests (see the module docstring)."""
    return st.builds(
        build_stream,
        st.sampled_from(NOISE_LEVELS),
        st.lists(st.binary(min_size=TAPE_SIZE, max_size=TAPE_SIZE), min_size=1, max_size=max_requests),
        st.binary(max_size=8),
    )
