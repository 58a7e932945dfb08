"""Reading a YOLO ``data.yaml`` without a YAML library: the subset Ultralytics and dataset
tools write (top-level ``key: value`` scalars, flow lists ``[a, 'b']``, block lists and
``index: name`` block mappings; plain, single- and double-quoted scalars). Nested values
of keys an import does not read (download scripts) are skipped; anything else raises
`SessionFormatError` naming the line."""

from __future__ import annotations

import json
import re

from engine.errors import SessionFormatError
from engine.formats.inputs import check_text

_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")
_ITEM = re.compile(r"^\s+(?:-\s*(.*)|(\d+)\s*:\s*(.*))$")


def _scalar(text: str, where: str) -> str:
    """A plain, single- or double-quoted YAML scalar (comments after plain ones dropped)."""
    text = text.strip()
    if text.startswith('"'):
        try:
            value, end = json.JSONDecoder().raw_decode(text)
        except ValueError:
            raise SessionFormatError(f"{where}: bad double-quoted string {text[:60]!r}") from None
        if not isinstance(value, str) or text[end:].strip() and not text[end:].strip().startswith("#"):
            raise SessionFormatError(f"{where}: bad double-quoted string {text[:60]!r}")
        return value
    if text.startswith("'"):
        match = re.match(r"^'((?:[^']|'')*)'\s*(#.*)?$", text)
        if not match:
            raise SessionFormatError(f"{where}: bad single-quoted string {text[:60]!r}")
        return match.group(1).replace("''", "'")
    return re.sub(r"\s+#.*$", "", text).strip()


def _flow_list(text: str, where: str) -> list[str]:
    inner = text.strip()[1:-1]
    items, current, quote = [], "", ""
    for char in inner:
        if quote:
            current += char
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current += char
        elif char == ",":
            items.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        items.append(current)
    return [_scalar(item, where) for item in items]


def parse_data_yaml(data: bytes, source: str) -> dict:
    """The keys of a data.yaml that an import needs; the subset of YAML Ultralytics and
    dataset tools write (top-level scalars, flow lists, block lists and ``index: name`` maps)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SessionFormatError(f"{source}: not UTF-8 text ({exc})") from None
    spec: dict = {}
    key = None
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{source}: line {number}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _ITEM.match(line)
        if item and key is not None:
            kind = list if item.group(1) is not None else dict
            entries = spec.setdefault(key, kind())
            if not isinstance(entries, kind):
                raise SessionFormatError(f"{where}: {key}: a {kind.__name__} entry after a value of another kind")
            if isinstance(entries, list):
                entries.append(_scalar(item.group(1), where))
            else:
                entries[int(item.group(2))] = _scalar(item.group(3), where)
            continue
        match = _KEY.match(line)
        if not match:
            if line[:1].isspace():
                continue  # nested values of keys an import does not read (download scripts, ...)
            raise SessionFormatError(f"{where}: cannot read {line[:60]!r}")
        key, value = match.group(1), match.group(2).strip()
        if value.startswith("[") and value.endswith("]"):
            spec[key] = _flow_list(value, where)
        elif value and not value.startswith("#"):
            spec[key] = _scalar(value, where)
        if key in spec and isinstance(spec[key], str):
            check_text(spec[key], where)
    return spec


def class_names(spec: dict, source: str) -> list[str]:
    names = spec.get("names")
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise SessionFormatError(f"{source}: names: indices must be 0..{len(names) - 1}")
        names = [names[k] for k in range(len(names))]
    if names is None and "nc" in spec:
        try:
            names = [f"class_{k}" for k in range(int(spec["nc"]))]
        except ValueError:
            raise SessionFormatError(f"{source}: nc: expected an integer, got {spec['nc']!r}") from None
    if not isinstance(names, list) or not names:
        raise SessionFormatError(f"{source}: names: missing or empty ('names' or 'nc' is required)")
    if "nc" in spec and str(spec["nc"]) != str(len(names)):
        raise SessionFormatError(f"{source}: nc: {spec['nc']} does not match the {len(names)} names")
    if len(set(names)) != len(names) or not all(n.strip() for n in names):
        raise SessionFormatError(f"{source}: names: empty or repeated class names")
    return names
