"""The grammar we enforce, compiled once into ``bytes`` regexes (RFC 9110 / RFC 9112 / RFC 3986)."""

from __future__ import annotations

import re

__all__ = [
    "ABSOLUTE_FORM",
    "AUTHORITY_FORM",
    "CHUNK_LINE",
    "CONTENT_LENGTH",
    "CONTENT_LENGTH_TEXT",
    "FIELDS",
    "FIELD_LINE",
    "FORBIDDEN_IN_FIELD_VALUE_TEXT",
    "HOST_VALUE",
    "ORIGIN_FORM",
    "OWS_STRIPPED_VALUE",
    "REQUEST_LINE",
    "REQUEST_LINE_LENIENT",
    "STATUS_TEXT",
    "STRICT_HEAD",
    "TOKEN",
    "TOKEN_BYTES",
    "TOKEN_TEXT",
]

# RFC 9110 §5.6.2: tchar. Every token pattern of the package, bytes and text, is built from this.
TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
#: A whole token (field name, method, transfer coding), for request bytes.
TOKEN_BYTES = re.compile(TOKEN)
#: The same rule for text the application gives (response field names, settings).
TOKEN_TEXT = re.compile(TOKEN.decode("ascii"))
#: RFC 9110 §8.6: Content-Length = 1*DIGIT (request side; the digit count is bounded by the caller).
CONTENT_LENGTH = re.compile(rb"[0-9]+")
#: A Content-Length an application may send: at most 18 digits (below 2**63).
CONTENT_LENGTH_TEXT = re.compile(r"[0-9]{1,18}")
#: RFC 9110 §5.5 / PEP 3333: what a field value from the application or a setting must not contain:
#: CTLs other than HTAB (CR, LF and NUL among them), and anything outside latin-1.
FORBIDDEN_IN_FIELD_VALUE_TEXT = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u0100-\U0010ffff]")
#: PEP 3333 status "999 Reason", latin-1; RFC 9112 §4: the reason has no CTLs but HTAB. 1xx is
#: refused: it is interim (RFC 9110 §15.2) and WSGI has no way to send a final response after it.
STATUS_TEXT = re.compile(r"[2-9][0-9]{2} [\t\x20-\x7e\x80-\xff]*")
# RFC 9110 §5.5: field-value = *field-content; VCHAR / obs-text / SP / HTAB, no CTLs. OWS included,
# h11 strips it.
_FIELD_VALUE = rb"[\t\x20-\x7e\x80-\xff]*"
# RFC 9112 §3.2: request-target; VCHAR only (no SP, CTL or raw 0x80-0xFF).
_TARGET = rb"[\x21-\x7e]+"
_TARGET_LENIENT = rb"[\x21-\x7e\x80-\xff]+"
_VERSION = rb"HTTP/(?P<major>[0-9])\.(?P<minor>[0-9])"


def _byte_class(excluded: bytes) -> bytes:
    """A character class of the VCHARs (0x21-0x7E) not in ``excluded``."""
    return b"[" + b"".join(re.escape(bytes([c])) for c in range(0x21, 0x7F) if c not in excluded) + b"]"


#: RFC 9112 §3: request-line = method SP request-target SP HTTP-version.
REQUEST_LINE = re.compile(rb"(?P<method>" + TOKEN + rb") (?P<target>" + _TARGET + rb") " + _VERSION)
REQUEST_LINE_LENIENT = re.compile(
    rb"(?P<method>" + TOKEN + rb") (?P<target>" + _TARGET_LENIENT + rb") " + _VERSION
)
#: RFC 9112 §5: field-line = field-name ":" OWS field-value OWS. A leading SP/HTAB (obs-fold, §5.2)
#: or whitespace before the colon (§5.1) fails the token.
FIELD_LINE = re.compile(rb"(?P<name>" + TOKEN + rb"):" + _FIELD_VALUE)

#: The whole head in one match, for the common case: CRLF line ends only, every line well formed.
#: Anything this refuses goes to the line-by-line scanner, which finds the first fault and its status.
#: Its groups are the request line's parts (as REQUEST_LINE's), so that line is not matched twice;
#: an origin-form target (ORIGIN_FORM's rule, the usual case) is captured as ``origin``, already
#: checked, any other as ``target``.
STRICT_HEAD = re.compile(
    rb"(?P<method>" + TOKEN + rb") (?:(?P<origin>/" + _byte_class(b'?#"<>`{}\\') + rb"*(?:\?"
    + _byte_class(b'#"<>') + rb"*)?)|(?P<target>" + _TARGET + rb")) HTTP/1\.(?P<minor>[0-9])\r\n(?:"
    + TOKEN + rb":" + _FIELD_VALUE + rb"\r\n)*\r\n"
)

#: A field value without its leading and trailing OWS (RFC 9112 §5.1), for lines already validated.
#: It starts and ends on a non-blank byte, and each inner run of blanks must be followed by one, so
#: no run of blanks can be split two ways: the match is linear in the line's length. (The obvious
#: ``[ \t]*(.*?)[ \t]*`` rescans a run of k blanks at each of its k positions: O(k**2).)
OWS_STRIPPED_VALUE = rb"[ \t]*((?:[^\t\n\r ]+(?:[ \t]+[^\t\n\r ]+)*)?)[ \t]*(?=\r?\n)"

#: The field lines of a validated head (CRLF or, in the legacy profile, bare-LF line ends), as
#: (name, value) with OWS stripped. Both head parsers take their field list from this one pattern,
#: so the environ never depends on which of them ran.
FIELDS = re.compile(rb"\n([^:\r\n]+):" + OWS_STRIPPED_VALUE)

# RFC 3986 §3.2.2: host = IP-literal / IPv4address / reg-name; port = *DIGIT. No userinfo: RFC 9110
# §4.2.4 says a recipient SHOULD treat userinfo in an http(s) URI as an error.
_HOST = rb"(?:\[[0-9A-Fa-f:.]+\]|[-A-Za-z0-9._~%!$&'()*+,;=]*)"
_PORT = rb"(?::[0-9]*)?"
#: RFC 9112 §3.2: a Host value is uri-host [":" port]; it may be empty.
HOST_VALUE = re.compile(_HOST + _PORT)
#: RFC 9112 §3.2.3: authority-form (CONNECT only).
AUTHORITY_FORM = re.compile(_HOST + rb":[0-9]+")
#: RFC 9112 §3.2.1: origin-form = absolute-path [ "?" query ]; a fragment is never sent. Of the
#: VCHARs RFC 3986 leaves out, we refuse exactly those a browser never sends raw in that component
#: (the WHATWG URL path and query percent-encode sets): in the path '"', '<', '>', '`', '{', '}' and
#: '\\' (browsers turn it into '/'; back ends that do the same make it a traversal vector), in the
#: query '"', '<', '>'. '|', '^', '[' and ']' stay accepted: browsers send them raw ("?a[b]=1").
_PATH = rb'[^?#"<>`{}\\]*'
_QUERY = rb'(?:\?[^#"<>]*)?'
ORIGIN_FORM = re.compile(rb"/" + _PATH + _QUERY)
#: RFC 9112 §3.2.2: absolute-form, http and https only, with a non-empty host.
ABSOLUTE_FORM = re.compile(
    rb"(?i:https?)://(?P<authority>(?:\[[0-9A-Fa-f:.]+\]|[-A-Za-z0-9._~%!$&'()*+,;=]+)" + _PORT + rb")"
    rb"(?P<rest>(?:/" + _PATH + rb")?" + _QUERY + rb")"
)

# RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF; chunk-size = 1*HEXDIG;
# chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ).
_BWS = rb"[ \t]*"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
CHUNK_LINE = re.compile(
    rb"(?P<size>[0-9A-Fa-f]+)(?:" + _BWS + rb";" + _BWS + TOKEN
    + rb"(?:" + _BWS + rb"=" + _BWS + rb"(?:" + TOKEN + rb"|" + _QUOTED + rb"))?)*"
)
