"""Label Studio import: the reader state, the tasks and how tasks become media
(`engine.formats.labelstudio_import` reads the regions)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import PurePosixPath

from engine.errors import SessionFormatError
from engine.formats.inputs import JsonFields, check_frame_size, check_frames, check_id, media_name
from engine.limits import MAX_FRAMES
from engine.media.images import natural_sort_key
from engine.ontology import ShapeType
from engine.types import Label, MediaInfo

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


@dataclass
class Task:
    where: str
    kind: str  # "image" or "video"
    url: str
    block: dict | None
    results: list[dict]
    size: tuple[int, int] | None = None  # (width, height)


class Reader:
    def __init__(self, source: str) -> None:
        self.top = JsonFields(source)
        self.counts: dict[str, int] = {}
        self.classes: dict[str, ShapeType] = {}
        self.labels: dict[tuple[str, int, int], Label] = {}
        self.names: dict[tuple[str, int], str] = {}
        self.next_id = 1

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def fail(self, where: str, message: str) -> SessionFormatError:
        return self.top.fail(where, message)


def read_size(reader: Reader, item: dict, where: str, wkey: str, hkey: str) -> tuple[int, int]:
    width = reader.top.get(item, wkey, where, int)
    height = reader.top.get(item, hkey, where, int)
    if width <= 0 or height <= 0:
        raise reader.fail(f"{where}.{wkey}", f"frame size {width}x{height} must be positive")
    check_frame_size(width, height, f"{reader.top.source}: {where}.{wkey}")
    return width, height


def url_name(url: str) -> PurePosixPath:
    """The path a task's URL names: ``?d=`` of local files, ``upload/<project>/<name>`` of
    uploads (upload prefix off), host + path of other URLs, else the text itself."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    if "d" in query and parts.path.rstrip("/").endswith("local-files"):
        text = query["d"][0]
    elif parts.path.startswith("/data/upload/"):
        path = PurePosixPath(urllib.parse.unquote(parts.path[len("/data/") :]))
        return path.with_name(_UPLOAD_PREFIX.sub("", path.name) or path.name)
    elif parts.scheme and parts.netloc:
        text = parts.netloc + urllib.parse.unquote(parts.path)
    else:
        text = url
    return PurePosixPath(text.replace("\\", "/"))


def task_media(reader: Reader, tasks: list[Task]) -> tuple[list[MediaInfo], dict[int, tuple[MediaInfo, int]]]:
    """The media and, per task, (media, frame index) (frame -1: a video task)."""
    top = reader.top
    declared: dict[str, dict] = {}
    members: dict[str, list[tuple[Task, int]]] = {}
    loose: list[Task] = []
    for task in tasks:
        if task.block is None:
            if task.kind == "video":
                name = media_name(url_name(task.url).as_posix(), where=f"{top.source}: {task.where}.data")
                declared.setdefault(name, {"video": True})
                members.setdefault(name, []).append((task, -1))
            else:
                loose.append(task)
            continue
        where = f"{task.where}.data.framewise"
        name = media_name(top.get(task.block, "media", where, str), where=f"{top.source}: {where}.media")
        entry = declared.setdefault(name, {"block": task.block, "where": where})
        entry.setdefault("block", task.block)
        entry["video"] = entry.get("video", False) or task.kind == "video"
        frame = -1
        if task.kind == "image":
            frame = check_id(top.get(task.block, "frame", where, int), f"{top.source}: {where}.frame", high=MAX_FRAMES - 1)
        members.setdefault(name, []).append((task, frame))
    media: list[MediaInfo] = []
    place: dict[int, tuple[MediaInfo, int]] = {}
    for name, group in members.items():
        info = _declared_media(reader, name, declared[name], group)
        media.append(info)
        place.update({id(task): (info, frame) for task, frame in group})
    for info, group2 in _folder_media(reader, loose):
        media.append(info)
        place.update({id(task): (info, k) for k, task in enumerate(group2)})
    return media, place


def _declared_media(reader: Reader, name: str, entry: dict, group: list[tuple[Task, int]]) -> MediaInfo:
    top = reader.top
    sizes = {task.size for task, _ in group if task.size is not None}
    block, where = entry.get("block"), entry.get("where", group[0][0].where)
    if block is not None and ("width" in block or "height" in block):
        sizes.add(read_size(reader, block, where, "width", "height"))
    if len(sizes) > 1:
        raise reader.fail(where, f"media {name!r} has frames of different sizes {sorted(sizes)}")
    if not sizes:
        raise reader.fail(
            group[0][0].where,
            f"video {name!r}: Label Studio gives boxes in percent of the frame but no frame size; add "
            '"width" and "height" (pixels) to the task\'s data',
        )
    ((width, height),) = sizes
    frames = 1 + max([frame for _, frame in group] + [0])
    fps = 0.0
    for task, _ in group:
        for result in task.results:
            value = result.get("value")
            if result.get("type") != "videorectangle" or not isinstance(value, dict):
                continue
            key = "framesCount" if "framesCount" in value else "frameCount"  # (older exports)
            count = top.get(value, key, f"{task.where}.value", int, required=False)
            if count is not None:
                frames = max(frames, check_frames(count, f"{top.source}: {task.where}.value.{key}"))
                duration = value.get("duration")
                if not fps and isinstance(duration, (int, float)) and duration > 0 and count > 0:
                    fps = count / float(duration)
    fingerprint = ""
    if block is not None:
        if "frames" in block:
            frames = max(frames, check_frames(top.get(block, "frames", where, int), f"{top.source}: {where}.frames"))
        fps = top.number(block.get("fps", fps), f"{where}.fps")
        fingerprint = top.get(block, "fingerprint", where, str, required=False, default="")
    if frames < 1:
        raise reader.fail(where, f"media {name!r} has no frames")
    frame_names: tuple[str, ...] = ()
    named = {frame: url_name(task.url).name for task, frame in group if frame >= 0}
    if not entry.get("video") and len(named) == frames and all(k in named for k in range(frames)):
        if [named[k] for k in range(frames)] != [f"{k:06d}.jpg" for k in range(frames)]:
            frame_names = tuple(named[k] for k in range(frames))
    return MediaInfo(name, fingerprint, width, height, frames, fps, (), frame_names)


def _folder_media(reader: Reader, tasks: list[Task]):
    """Image tasks without framewise data, by folder (one media per image on mixed sizes)."""
    folders: dict[PurePosixPath, list[Task]] = {}
    for task in tasks:
        folders.setdefault(url_name(task.url).parent, []).append(task)
    for folder, group in folders.items():
        group.sort(key=lambda task: natural_sort_key(url_name(task.url).name))
        names = [url_name(task.url).name for task in group]
        for index, name in enumerate(names[1:]):
            if name == names[index]:
                raise reader.fail(group[index + 1].where, f"image {name!r} of {folder.as_posix()!r} is in two tasks")
        sizes = {task.size for task in group if task.size is not None}
        if not sizes:
            continue  # no labels and no size: nothing to place
        folder_name = media_name(folder.as_posix() if folder.parts else "images", where=f"{reader.top.source}: {group[0].where}")
        if len(sizes) == 1:
            ((width, height),) = sizes
            yield MediaInfo(folder_name, "", width, height, len(group), 0.0, (), tuple(names)), group
            continue
        for task in group:
            if task.size is not None:
                name = media_name(url_name(task.url).as_posix(), where=f"{reader.top.source}: {task.where}")
                yield MediaInfo(name, "", task.size[0], task.size[1], 1, 0.0, (), (url_name(task.url).name,)), [task]
