"""Item text from catalogue fields through a small template language.

``{field}`` inserts a field; a bracketed section ``[Brand: {brand}. ]`` is kept only
when every field inside it is non-empty, so missing brands leave no dangling label.
Lists render as ``", "``-joined values; lists of lists (Amazon category paths) as
``" > "``-joined paths separated by ``"; "``. HTML entities are unescaped.
"""

from __future__ import annotations

import html
import re
from typing import Any

from genrec.data.dataset import Catalog
from genrec.errors import ConfigError

_SECTION = re.compile(r"\[([^\[\]]*)\]")
_FIELD = re.compile(r"\{(\w+)\}")


def clean_text(value: str) -> str:
    """Unescape HTML entities (twice: some Amazon strings are double-escaped) and squeeze spaces."""
    for _ in range(2):
        unescaped = html.unescape(value)
        if unescaped == value:
            break
        value = unescaped
    return " ".join(value.split())


def render_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (list, tuple)) for v in value):
            return "; ".join(" > ".join(clean_text(str(x)) for x in path) for path in value)
        return ", ".join(clean_text(str(v)) for v in value if str(v).strip())
    return clean_text(str(value))


def render_template(template: str, values: dict[str, Any]) -> str:
    """Fill ``template`` from ``values`` (rendered strings), dropping sections with empty fields."""

    def fill(text: str) -> str:
        return _FIELD.sub(lambda m: values.get(m.group(1), ""), text)

    def section(match: re.Match) -> str:
        body = match.group(1)
        names = _FIELD.findall(body)
        return fill(body) if all(values.get(n) for n in names) else ""

    return " ".join(fill(_SECTION.sub(section, template)).split())


def item_texts(catalog: Catalog, template: str) -> list[str]:
    """One text per catalogue item, in internal-id order."""
    unknown = sorted(set(_FIELD.findall(template)) - set(catalog.fields))
    if unknown:
        raise ConfigError(
            f"data.text_template names field(s) {unknown} that the {catalog.dataset} catalogue "
            f"lacks; available fields: {sorted(catalog.fields)}"
        )
    names = list(catalog.fields)
    return [
        render_template(template, {n: render_field(catalog.fields[n][i]) for n in names})
        for i in range(len(catalog))
    ]
