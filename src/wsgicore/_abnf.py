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
    "FORBIDDEN_IN_FIELD_VALUE",
    "FORBIDDEN_IN_FIELD_VALUE_TEXT",
    "HOST_VALUE",
    "HTTP_VERSION",
    "NOT_VCHAR",
    "ORIGIN_FORM",
    "OWS_STRIPPED_VALUE",
    "PATH_REFUSED",
    "QUERY_REFUSED",
    "REQUEST_LINE",
    "REQUEST_LINE_LENIENT",
    "SCHEME",
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
# RFC 9110 §5.5: field-content is VCHAR / obs-text / SP / HTAB: every byte but the CTLs other than HTAB.
# The one definition of it: request field lines, the reason phrase, the application's field values.
_FIELD_CHARS = r"\t\x20-\x7e\x80-\xff"
#: RFC 9110 §5.5 / PEP 3333: what a field value from the application or a setting must not contain:
#: CTLs other than HTAB (CR, LF and NUL among them), and anything outside latin-1.
FORBIDDEN_IN_FIELD_VALUE_TEXT = re.compile(f"[^{_FIELD_CHARS}]")
#: The same rule for request bytes: the first byte a field line may not hold (for the error's reason).
FORBIDDEN_IN_FIELD_VALUE = re.compile(f"[^{_FIELD_CHARS}]".encode("ascii"))
#: PEP 3333 status "999 Reason", latin-1; RFC 9112 §4: the reason has no CTLs but HTAB. 1xx is
#: refused: it is interim (RFC 9110 §15.2) and WSGI has no way to send a final response after it.
STATUS_TEXT = re.compile(f"[2-9][0-9]{{2}} [{_FIELD_CHARS}]*")
# field-value = *field-content, OWS included (the parsers strip it).
_FIELD_VALUE = f"[{_FIELD_CHARS}]*".encode("ascii")
# RFC 9112 §3.2: request-target; VCHAR only (no SP, CTL or raw 0x80-0xFF).
_VCHAR = rb"\x21-\x7e"
_TARGET = rb"[" + _VCHAR + rb"]+"
_TARGET_LENIENT = rb"[" + _VCHAR + rb"\x80-\xff]+"
#: The first byte of a request-target that is not VCHAR (for the error's reason).
NOT_VCHAR = re.compile(rb"[^" + _VCHAR + rb"]")
_VERSION = rb"HTTP/(?P<major>[0-9])\.(?P<minor>[0-9])"
#: RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT.
HTTP_VERSION = re.compile(_VERSION)
#: RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
SCHEME = re.compile(rb"[A-Za-z][-+.0-9A-Za-z]*")

#: RFC 9112 §3.2.1: the VCHARs that origin-form refuses raw, by component, and the one definition of
#: them (the strict head, ORIGIN_FORM and ABSOLUTE_FORM, and the error's reason all read these). Of the
#: VCHARs RFC 3986 leaves out, we refuse exactly those a browser never sends raw in that component
#: (the WHATWG URL path and query percent-encode sets): in the path '"', '<', '>', '`', '{', '}' and
#: '\\' (browsers turn it into '/'; back ends that do the same make it a traversal vector), in the
#: query '"', '<', '>'. '|', '^', '[' and ']' stay accepted: browsers send them raw ("?a[b]=1").
#: '#' starts a fragment, which a client never sends (RFC 9112 §3.2.1), and '?' ends the path.
PATH_REFUSED = b'"<>`{}\\'
QUERY_REFUSED = b'"<>'


def _escaped(chars: bytes) -> bytes:
    return b"".join(re.escape(bytes([c])) for c in chars)


def _byte_class(excluded: bytes) -> bytes:
    """A character class of the VCHARs (0x21-0x7E) not in ``excluded``."""
    return b"[" + b"".join(re.escape(bytes([c])) for c in range(0x21, 0x7F) if c not in excluded) + b"]"


# The path and the query of origin-form, inside a target already known to be VCHARs only.
_PATH = b"[^?#" + _escaped(PATH_REFUSED) + b"]*"
_QUERY = b"(?:\\?[^#" + _escaped(QUERY_REFUSED) + b"]*)?"
# The same, for the strict head's one match, which must also refuse what is not VCHAR.
_STRICT_PATH = _byte_class(b"?#" + PATH_REFUSED) + b"*"
_STRICT_QUERY = b"(?:\\?" + _byte_class(b"#" + QUERY_REFUSED) + b"*)?"


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
    rb"(?P<method>" + TOKEN + rb") (?:(?P<origin>/" + _STRICT_PATH + _STRICT_QUERY
    + rb")|(?P<target>" + _TARGET + rb")) HTTP/1\.(?P<minor>[0-9])\r\n(?:"
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
#: RFC 9112 §3.2.1: origin-form = absolute-path [ "?" query ], less PATH_REFUSED and QUERY_REFUSED.
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
