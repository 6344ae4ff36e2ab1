"""The HTML shell every view shares: one self-contained file, strict CSP, data in a JSON block.

- ``Content-Security-Policy``: ``default-src 'none'``; the page's own ``<style>`` and ``<script>``
  run by a per-page nonce; images only from ``data:`` URIs. Nothing is fetched, nothing else runs.
- Server-side text goes through :func:`html.escape`; the data block is JSON in which every ``<``
  is written ``\\u003c``, so no text in it can close the block (``</script>``) or open a comment.
"""

from __future__ import annotations

import json
import secrets
from html import escape
from importlib import resources
from typing import Any


def asset(name: str) -> str:
    """The text of a packaged asset (``page.js``, ``page.css``)."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def json_for_script(data: Any) -> str:
    """``data`` as JSON safe inside ``<script type="application/json">``: ``<`` -> ``\\u003c`` (so
    ``</script>`` and ``<!--`` cannot appear), U+2028/9 escaped; lone surrogates as ``\\udXXX``."""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def clean_json(x: Any) -> Any:
    """A copy with non-finite floats as ``None`` (JSON has no NaN)."""
    if isinstance(x, float):
        return x if x == x and x not in (float("inf"), float("-inf")) else None
    if isinstance(x, dict):
        return {str(k): clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    return x


def render_page(*, title: str, subtitle: str, body_html: str, data: dict[str, Any]) -> str:
    """The whole page: ``body_html`` (already escaped markup) above the ``#app`` the script fills."""
    nonce = secrets.token_urlsafe(18)
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; "
           "base-uri 'none'; form-action 'none'; frame-src 'none'; object-src 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{escape(csp)}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n<style nonce=\"{nonce}\">\n{asset('page.css')}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1><div class=\"muted src\">{escape(subtitle)}</div></header>\n"
        "<pre id=\"errors\" hidden></pre>\n"
        f"{body_html}\n<div id=\"app\"></div>\n"
        f"<script type=\"application/json\" id=\"view-data\">{json_for_script(clean_json(data))}</script>\n"
        f"<script nonce=\"{nonce}\">\n{asset('page.js')}</script>\n</body>\n</html>\n"
    )
