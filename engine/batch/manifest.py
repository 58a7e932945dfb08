"""``OUT/manifest.json`` of `framewise prelabel`: what each media's run came to, read
strictly, and the driver's plan per media (skip, fail, run from scratch, or resume).

The manifest is untrusted input (it can be edited, truncated or crafted): `read_manifest`
refuses one that is not JSON or not a prelabel manifest (one line, the run does not start,
nothing is written), and checks every entry (`parse_entry`: types, statuses, whole numbers
0…2^53, finite seconds, a hex key). A malformed *entry* stops only its media: it is
reported failed with what is wrong, and the entry is written back exactly as it was
(its project is left untouched), so a hand-made mistake never costs a done project.

A done entry is trusted only while its project holds the label count the manifest
recorded: otherwise (edited by hand, or written by a run that was not this one) the media
is reported failed and its folder left untouched.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.batch.outputs import (
    MANIFEST,
    OutsideOutError,
    assign_names,
    check_name,
    folder_state,
    inside,
    resolved_media,
)
from engine.errors import FramewiseError, ProjectError
from engine.fileio import atomic_write_bytes
from engine.project import Project

MANIFEST_FORMAT = "framewise-prelabel"
STATUSES = ("running", "done", "failed")
COUNT_MAX = 1 << 53  # counts a JSON number holds exactly
MANIFEST_MAX_BYTES = 64 << 20


class ManifestError(ProjectError):
    """``OUT/manifest.json`` cannot be read as a prelabel manifest."""


@dataclass(frozen=True)
class MediaResult:
    """How one media went. status: ``done``, ``failed`` or ``skipped`` (done before).
    resumed_from: the earliest frame a killed run was continued from (None: a full run)."""

    media: str
    stem: str
    status: str
    project: str
    error: str | None = None
    frames: int = 0
    labels: int = 0
    objects: int = 0
    flagged: int = 0
    seconds: float = 0.0
    preview: str | None = None
    pngs: list[str] = field(default_factory=list)
    resumed_from: int | None = None


@dataclass(frozen=True)
class PrelabelSummary:
    results: list[MediaResult]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> bool:
        return self.count("failed") > 0


@dataclass(frozen=True)
class Entry:
    """One media of the manifest (keyed by its folder name). source: the resolved media
    path (absent in manifests written before it was recorded)."""

    media: str
    status: str
    key: str | None = None
    error: str | None = None
    frames: int = 0
    labels: int = 0
    flagged: int = 0
    seconds: float = 0.0
    source: str | None = None
    resumed_from: int | None = None

    def is_for(self, media: str) -> bool:
        mine = resolved_media(media)
        return self.source == mine if self.source is not None else mine in (self.media, resolved_media(self.media))


def _text(value: Any, what: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected {'text or null' if optional else 'text'}, got {_show(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what}: not valid Unicode text") from None
    return value


def _count(value: Any, what: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= COUNT_MAX:
        raise ValueError(f"{what}: expected a whole number 0..2^53, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else f"a {len(str(abs(value)))}-digit number"
    return text if len(text) <= 40 else text[:37] + "..."


def parse_entry(value: Any) -> Entry:
    """A manifest entry checked field by field; `ValueError` saying what is wrong."""
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    status = value.get("status")
    if status not in STATUSES:
        raise ValueError(f"status: expected one of {', '.join(STATUSES)}, got {_show(status)}")
    key = _text(value.get("key"), "key", optional=True)
    if key is not None and (len(key) != 64 or any(c not in "0123456789abcdef" for c in key)):
        raise ValueError(f"key: expected 64 hex digits, got {_show(key)}")
    seconds = value.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e12 or \
            not math.isfinite(seconds):
        raise ValueError(f"seconds: expected a finite number >= 0, got {_show(seconds)}")
    return Entry(
        media=_text(value.get("media"), "media") or "",
        status=status,
        key=key,
        error=_text(value.get("error"), "error", optional=True),
        frames=_count(value.get("frames", 0), "frames") or 0,
        labels=_count(value.get("labels", 0), "labels") or 0,
        flagged=_count(value.get("flagged", 0), "flagged") or 0,
        seconds=float(seconds),
        source=_text(value.get("source"), "source", optional=True),
        resumed_from=_count(value.get("resumed_from"), "resumed_from", optional=True),
    )


@dataclass
class Manifest:
    """The manifest as read: ``raw`` (rewritten with only the entries set here replaced,
    malformed ones kept as they were), the valid ``entries`` and the ``bad`` ones (name ->
    what is wrong)."""

    path: Path
    raw: dict[str, Any]
    entries: dict[str, Entry]
    bad: dict[str, str]

    def taken(self) -> dict[str, str | None]:
        """name -> the resolved media its entry records (None: a malformed entry)."""
        owners: dict[str, str | None] = {name: None for name in self.bad}
        for name, entry in self.entries.items():
            owners[name] = entry.source or resolved_media(entry.media)
        return owners

    def set(self, name: str, entry: Entry) -> None:
        self.raw["media"][name] = asdict(entry)
        self.entries[name] = entry
        self.bad.pop(name, None)

    def write(self, out: Path) -> None:
        """Atomically; ASCII-escaped, so any text read back (a lone surrogate too) writes."""
        text = json.dumps(self.raw, indent=2, ensure_ascii=True) + "\n"
        atomic_write_bytes(inside(out, out / MANIFEST), text.encode("ascii"))


def read_manifest(out: Path) -> Manifest:
    """``OUT/manifest.json`` (an empty one when there is none); see the module docstring."""
    path = inside(out, out / MANIFEST)
    fix = "fix it, or move it away together with the project folders it lists"
    if not path.exists():
        return Manifest(path, {"format": MANIFEST_FORMAT, "version": 1, "media": {}}, {}, {})
    try:
        if path.stat().st_size > MANIFEST_MAX_BYTES:
            raise ManifestError(f"{path}: over {MANIFEST_MAX_BYTES >> 20} MiB, not a prelabel manifest: {fix}")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else " ".join(str(exc).split())[:200]
        raise ManifestError(f"{path}: unreadable prelabel manifest ({reason}): {fix}") from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("media"), dict):
        raise ManifestError(f"{path}: not a {MANIFEST_FORMAT} manifest: {fix}")
    if data.get("version") != 1 or isinstance(data.get("version"), bool):
        raise ManifestError(f"{path}: prelabel manifest version {_show(data.get('version'))}, expected 1: {fix}")
    entries, bad = {}, {}
    for name, value in data["media"].items():
        try:
            check_name(name)
            _text(name, "name")
            entries[name] = parse_entry(value)
        except (ValueError, OutsideOutError) as exc:
            bad[name] = str(exc)
    return Manifest(path, data, entries, bad)


@dataclass(frozen=True)
class Plan:
    """The driver's decision for one media: ``skip`` or ``fail`` (with ``result``), or
    ``run`` into ``OUT/<name>`` (continuing a killed run when ``resume``). ``record``: a
    failure the manifest may note (its inputs could not be read); the others (a folder or
    entry that is not prelabel's to change) leave the manifest as it is."""

    media: str
    name: str
    key: str | None
    action: str
    resume: bool = False
    result: MediaResult | None = None
    record: bool = False


def label_count(folder: Path) -> int:
    with Project.open(folder, read_only_ok=True) as project:
        return len(project.labels())


def plan_media(out: Path, manifest: Manifest, media: str, name: str, key: str | None, key_error: str | None) -> Plan:
    """What to do with ``media`` (folder ``name``, input key ``key``); see the module docstring."""
    folder = out / name

    def fail(error: str, record: bool = False) -> Plan:
        result = MediaResult(media, name, "failed", str(folder), error=error)
        return Plan(media, name, key, "fail", result=result, record=record)

    entry = manifest.entries.get(name)
    if key_error is not None:
        ours = entry.is_for(media) if entry is not None else not os.path.lexists(folder)
        return fail(key_error, record=ours and name not in manifest.bad)
    if name in manifest.bad:
        return fail(f"{manifest.path}: the entry {name!r} is malformed ({manifest.bad[name]}); it and {folder} are left "
                    "untouched: fix or delete that entry")
    try:
        state, marker = folder_state(out, name)
    except FramewiseError as exc:
        return fail(str(exc))
    if state != "ours" or marker is None:
        return Plan(media, name, key, "run")
    if entry is None or not entry.is_for(media):
        return fail(f"{folder}: a prelabel project that {manifest.path} does not list for {media}; it is left "
                    "untouched: move it away or use another --out")
    if marker.get("status") == "done":
        expected = entry.labels if entry.status == "done" else marker.get("labels")
        try:
            count = label_count(folder)
        except FramewiseError as exc:
            return fail(f"{exc}; it is left untouched")
        if count != expected:
            return fail(f"{folder}: the project holds {count} labels, the manifest recorded {expected}: it changed "
                        "after prelabel finished (edited, or written by another run); it is left untouched: "
                        "move it away to pre-label again")
        if entry.status == "done" and entry.key == key:
            return Plan(media, name, key, "skip", result=MediaResult(
                media, name, "skipped", str(folder), frames=entry.frames, labels=entry.labels, flagged=entry.flagged))
        return Plan(media, name, key, "run")
    resume = (entry.status == "running" and entry.key == key and marker.get("key") == key
              and marker.get("seeded") is True and (folder / "project.sqlite").is_file())
    return Plan(media, name, key, "run", resume=resume)


def plan_run(out: Path, manifest: Manifest, media: Iterable[str], key_of: Callable[[str, str], str]) -> list[Plan]:
    """A `Plan` per media (duplicates dropped), in order; ``key_of(media, name)`` raising a
    `FramewiseError` or `OSError` fails that media alone."""
    unique = list(dict.fromkeys(media))
    names = assign_names(unique, manifest.taken())
    plans = []
    for item in unique:
        key: str | None
        try:
            key, error = key_of(item, names[item]), None
        except (FramewiseError, OSError) as exc:
            key, error = None, " ".join(str(exc).split()) or type(exc).__name__
        plans.append(plan_media(out, manifest, item, names[item], key, error))
    return plans


def running_entry(plan: Plan) -> Entry:
    return Entry(plan.media, "running", key=plan.key, source=resolved_media(plan.media))


def result_entry(result: MediaResult, key: str | None) -> Entry:
    return Entry(result.media, result.status, key=key, error=result.error, frames=result.frames,
                 labels=result.labels, flagged=result.flagged, seconds=result.seconds,
                 source=resolved_media(result.media), resumed_from=result.resumed_from)
