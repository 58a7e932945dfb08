"""Mutations of seed files for fuzzing: byte steps, JSON / XML / SQLite / npz crafting.

A plan is a list of steps ``(op, a, b, text)``: a and b are free ints read modulo whatever
they index, text is free unicode. `plan_strategy` (hypothesis) and `random_plan` (the
long mode, ``random.Random``) make them, so both drive the same code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BYTE_OPS = ("flip", "truncate", "delete", "duplicate", "insert", "overwrite")
JSON_OPS = ("delete", "duplicate", "swap", "huge", "deep", "text", "path", "widen")
XML_OPS = ("delete", "duplicate", "attribute", "drop_attribute", "text", "deep", "doctype")
SQL_OPS = ("cell", "delete_row", "drop_table", "version", "trigger", "view")
NPZ_OPS = ("drop_key", "replace_key")
OPS = {"json": JSON_OPS + ("bytes",), "xml": XML_OPS + ("bytes",), "sqlite": SQL_OPS + ("bytes",),
       "binary": BYTE_OPS + NPZ_OPS}

_INSERTS = (b"\x00", b"\xff" * 8, b'"', b"{", b"[", b"<", b"&x;", b"\xf0\x9f\x98\x80", b"\xed\xa0\x80", b"\n" * 3)
_WORDS = (b"\x7f\xff\xff\xff", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x80\x00\x00\x00")
POOL: tuple = (None, True, False, 0, -1, 1, 1.5, -0.0, 1e308, -1e308, 2**63, -(2**63) - 1, 10**40, "", "x",
               [], {}, [0], {"a": 1}, "#zzzzzz", "polygon", "bounding_box", "\u202e", "\ud800", "a\x00b")
HUGE = (10**400, 1e308, -1e308, 2**64, -(2**63), 10**18, 4.9e-324)
PATHS = ("../../../etc/passwd", "/etc/passwd", "C:\\Windows\\x", "\\\\server\\share\\x", "~/x", "a/../../b",
         "frames/../../x.jpg", "./", "", " ", "\x00", "a" * 5000, "é/ü/😀.jpg")


def byte_step(data: bytes, op: str, a: int, b: int) -> bytes:
    n = len(data)
    pos = a % (n + 1)
    if op == "flip" and n:
        pos = a % n
        return data[:pos] + bytes([data[pos] ^ (1 << (b % 8))]) + data[pos + 1:]
    if op == "truncate":
        return data[:pos]
    if op == "delete":
        return data[:pos] + data[pos + 1 + b % 64:]
    if op == "duplicate":
        return data[:pos] + data[pos:pos + 1 + b % 256] + data[pos:]
    if op == "insert":
        return data[:pos] + _INSERTS[b % len(_INSERTS)] + data[pos:]
    if op == "overwrite":
        word = _WORDS[b % len(_WORDS)]
        return data[:pos] + word + data[pos + len(word):]
    return data


def _nodes(tree: Any, path: tuple = ()) -> list[tuple]:
    """Paths (key/index tuples) of every node of a JSON tree, root first (depth first, in
    order). Iterative: a plan may nest a tree deeper than Python's recursion limit."""
    found: list[tuple] = []
    stack = [(tree, path)]
    while stack:
        node, where = stack.pop()
        found.append(where)
        if isinstance(node, dict):
            stack.extend((value, where + (key,)) for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((value, where + (index,)) for index, value in reversed(list(enumerate(node))))
    return found


_DEEP = "\x00deep\x00"


def json_step(tree: Any, op: str, a: int, b: int, text: str) -> Any:
    nodes = _nodes(tree)
    path = nodes[a % len(nodes)]
    if not path:
        return json.loads(json.dumps(POOL[b % len(POOL)])) if op == "swap" else tree  # a copy: steps mutate it
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if op == "delete":
        del parent[key]
    elif op == "duplicate":
        if isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
        else:
            parent[f"{key}{b % 3 or ''}"] = parent[key]
    elif op == "swap":
        parent[key] = json.loads(json.dumps(POOL[b % len(POOL)]))  # a copy, or a later step edits POOL itself
    elif op == "huge":
        parent[key] = HUGE[b % len(HUGE)]
    elif op == "deep":
        parent[key] = _DEEP + str(10 + b % 200000)
    elif op == "text":
        parent[key] = text
    elif op == "path":
        parent[key] = PATHS[b % len(PATHS)]
    elif op == "widen" and isinstance(parent[key], list) and parent[key]:
        parent[key] = (parent[key] * (1 + 3000 // len(parent[key])))[:3000]
    return tree


def _json_text(tree: Any) -> str:
    import re

    text = json.dumps(tree)
    marker = re.escape(json.dumps(_DEEP)[1:-1])
    return re.sub(f'"{marker}(\\d+)"', lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), text)


def xml_step(root: Any, op: str, a: int, b: int, text: str) -> Any:
    import xml.etree.ElementTree as ET

    elements = list(root.iter())
    element = elements[a % len(elements)]
    parents = {child: parent for parent in root.iter() for child in parent}
    parent = parents.get(element)
    attributes = sorted(element.attrib)
    values = [str(v) for v in POOL if isinstance(v, (str, int, float)) and "\x00" not in str(v)]
    values += ["nan", "inf", "-1", "1e999", "0x10", "1,2;3", text]
    value = values[b % len(values)]
    value = "".join(ch for ch in value if ch in "\t\n\r" or 0x20 <= ord(ch) < 0xD800 or 0xE000 <= ord(ch) < 0xFFFE)
    if op == "delete" and parent is not None:
        parent.remove(element)
    elif op == "duplicate" and parent is not None:
        parent.insert(list(parent).index(element), ET.fromstring(ET.tostring(element)))
    elif op == "attribute":
        name = attributes[b % len(attributes)] if attributes and b % 4 else "frame"
        element.set(name, value)
    elif op == "drop_attribute" and attributes:
        del element.attrib[attributes[b % len(attributes)]]
    elif op == "text":
        element.text = value
    elif op == "deep":  # spliced in as text by `mutate_text` (ElementTree recurses)
        element.append(ET.Element(_DEEP_TAG, depth=str(10 + b % 100000), tag="track" if b % 2 else "x"))
    return root


_DEEP_TAG = "fuzz-deep"


def _splice_deep(text: str) -> str:
    import re

    def nest(match) -> str:
        depth, tag = int(match.group(1)), match.group(2)
        return f"<{tag}>" * depth + f"</{tag}>" * depth

    return re.sub(f'<{_DEEP_TAG} depth="(\\d+)" tag="(\\w+)" />', nest, text)


_DOCTYPES = (
    '<!DOCTYPE a [<!ENTITY x "xxxxxxxxxx"><!ENTITY y "&x;&x;&x;&x;&x;&x;&x;&x;&x;&x;">]>',
    '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE a SYSTEM "http://127.0.0.1:9/x.dtd">',
)


def mutate_text(kind: str, data: bytes, plan: list[tuple]) -> bytes:
    """Apply a plan to a JSON or XML file's bytes (structural steps first, then byte steps)."""
    import xml.etree.ElementTree as ET

    structural = [step for step in plan if step[0] != "bytes"]
    if kind == "json" and structural:
        tree = json.loads(data)
        for op, a, b, text in structural:
            tree = json_step(tree, op, a, b, text)
        data = _json_text(tree).encode("utf-8", "surrogatepass")
    elif kind == "xml" and structural:
        root = ET.fromstring(data)
        doctype = ""
        for op, a, b, text in structural:
            if op == "doctype":
                doctype = _DOCTYPES[b % len(_DOCTYPES)]
            else:
                root = xml_step(root, op, a, b, text)
        data = (doctype + _splice_deep(ET.tostring(root, encoding="unicode"))).encode("utf-8")
    for op, a, b, _ in plan:
        if op == "bytes":
            data = byte_step(data, BYTE_OPS[b % len(BYTE_OPS)], a, b // len(BYTE_OPS))
    return data


_TABLES = ("meta", "media", "classes", "objects", "labels", "events", "changesets", "changes")
_SQL_VALUES: tuple = (None, 0, -1, 2**63 - 1, -(2**63), 1.5, float("inf"), float("nan"), "", "x", "[", "{}",
                      '{"type":"polygon","parts":[]}', '{"table":"label"}', "[1e999]", '["a"]', b"\x00\xff",
                      "\ud800", "9" * 400)


def mutate_sqlite(path: Path, plan: list[tuple]) -> None:
    """Craft the project database at ``path`` in place: bad cells, missing rows and tables,
    triggers and views, then byte steps on the file."""
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute("PRAGMA ignore_check_constraints = ON")
        for op, a, b, text in plan:
            try:
                _sql_step(db, path, op, a, b, text)
            except sqlite3.Error:  # a step the damaged schema cannot take: skip it
                pass
    finally:
        db.close()
    data = path.read_bytes()
    for op, a, b, _ in plan:
        if op == "bytes":
            data = byte_step(data, BYTE_OPS[b % len(BYTE_OPS)], a, b // len(BYTE_OPS))
    path.write_bytes(data)


def _sql_step(db, path: Path, op: str, a: int, b: int, text: str) -> None:
    """One crafting step on an open database."""
    import sqlite3

    table = _TABLES[a % len(_TABLES)]
    exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if op in ("cell", "delete_row", "drop_table") and not exists:
        return
    if op == "cell":
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        column = columns[b % len(columns)]
        value = _SQL_VALUES[(b // len(columns)) % len(_SQL_VALUES)]
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if "\ud800" in value else value
        try:  # (an INTEGER PRIMARY KEY refuses text)
            db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid IN "
                       f"(SELECT rowid FROM {table} LIMIT 1 OFFSET ?)", (value, b % 3))
        except sqlite3.IntegrityError:
            pass
    elif op == "delete_row":
        db.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} LIMIT 1 OFFSET ?)", (b % 3,))
    elif op == "drop_table":
        db.execute(f"DROP TABLE {table}")
    elif op == "version":
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                   (("0", "1", "2", "-1", "x", "", " 1", "1.0", "99999999999999999999")[b % 9],))
    elif op == "trigger" and exists:
        escape = path.parent.parent / "outside" / "trigger.db"
        body = (f"ATTACH DATABASE '{escape}' AS evil", "SELECT load_extension('/tmp/x')",
                f"INSERT INTO meta(key, value) VALUES ('t' || random(), '{text[:20]!s}')")[b % 3]
        when = ("AFTER INSERT", "AFTER UPDATE", "AFTER DELETE", "BEFORE INSERT")[a % 4]
        try:
            db.execute(f"CREATE TRIGGER IF NOT EXISTS fuzz_{b % 5} {when} ON {table} BEGIN {body}; END")
        except sqlite3.Error:
            pass
    elif op == "view":
        db.execute(f"CREATE VIEW IF NOT EXISTS fuzz_view_{b % 5} AS SELECT load_extension('/tmp/x') AS x")


def mutate_npz(data: bytes, plan: list[tuple]) -> bytes:
    """Byte steps, and rewrites of the archive with keys dropped or replaced (object arrays
    included, which `np.savez` pickles)."""
    import io

    import numpy as np

    structural = [step for step in plan if step[0] in NPZ_OPS]
    if structural:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        replacements = (np.array("x"), np.array([1, 2, 3]), np.zeros(()), np.array([None, 1], dtype=object),
                        np.zeros((0,)), np.array(2**62), np.array([[1, 2], [3, 4]]), np.array(b"\xff"),
                        np.full((3,), np.nan))
        for op, a, b, _ in structural:
            keys = sorted(arrays)
            if not keys:
                break
            key = keys[a % len(keys)]
            if op == "drop_key":
                del arrays[key]
            else:
                arrays[key] = replacements[b % len(replacements)]
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        data = buffer.getvalue()
    for op, a, b, _ in plan:
        if op in BYTE_OPS:
            data = byte_step(data, op, a, b)
    return data


def apply_plan(target: Any, case_path: Path, plan: list[tuple]) -> None:
    """Mutate the case copy of a seed in place (``target.kind`` picks the mutations)."""
    if target.kind == "sqlite":
        mutate_sqlite(case_path, plan)
    elif target.kind == "binary":
        case_path.write_bytes(mutate_npz(case_path.read_bytes(), plan))
    else:
        case_path.write_bytes(mutate_text(target.kind, case_path.read_bytes(), plan))


def plan_strategy(kind: str, max_steps: int = 3):
    """A hypothesis strategy of plans for a target kind."""
    from hypothesis import strategies as st

    step = st.tuples(st.sampled_from(OPS[kind]), st.integers(0, 2**31), st.integers(0, 2**31), st.text(max_size=12))
    return st.lists(step, min_size=1, max_size=max_steps)


def random_plan(rng, kind: str, max_steps: int = 4) -> list[tuple]:
    """The same kind of plan from ``random.Random`` (the long mode)."""
    def text() -> str:
        return "".join(chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x80, 0x3000), rng.randrange(0x1F000, 0x1FFFF))))
                       for _ in range(rng.randrange(0, 12)))
    return [(rng.choice(OPS[kind]), rng.randrange(2**31), rng.randrange(2**31), text())
            for _ in range(rng.randrange(1, max_steps + 1))]
