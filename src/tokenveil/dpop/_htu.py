"""``htu`` comparison (RFC 9449 §4.3 check 9): the request URI without query and fragment.

Both sides are normalized first, as §4.3 recommends, with RFC 3986 §6.2.2 syntax-based
normalization (case of scheme and host, percent-encoding case, unreserved characters decoded,
dot segments removed) and §6.2.3 scheme-based normalization (default port dropped, empty path is
``/``).
"""

from __future__ import annotations

import functools
import re
import string
from urllib.parse import urlsplit

__all__ = ["normalize_htu"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")


# A server has few endpoints and a client reuses its URIs: cache the normalized forms.
@functools.lru_cache(maxsize=2048)
def normalize_htu(uri: str) -> str:
    """The normalized ``scheme://host[:port]/path`` of ``uri``; ``ValueError`` if it is not one."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("htu must be an absolute http(s) URI")
    if parts.username is not None or parts.password is not None:
        raise ValueError("htu must not carry user information")
    host = parts.hostname.lower()  # urlsplit strips the IPv6 brackets
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # ValueError for a port out of range
    authority = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _remove_dot_segments(_normalize_percent(parts.path)) or "/"
    return f"{scheme}://{authority}{path}"


def _normalize_percent(path: str) -> str:
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return _PCT.sub(fix, path)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4, over segments.
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/".join(out)
