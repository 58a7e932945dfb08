"""The neutral view every exporter reads and every importer returns: `Dataset`.

A dataset is an ontology, the media (`MediaInfo`), the labels (`Label`, keyed by
``(media, frame_index, object_id)``) and optional object names. Exporters only read it;
`check` turns an inconsistent one into an `ExportError` before any file is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath, PureWindowsPath

from engine.errors import ExportError
from engine.limits import MAX_FRAME_PIXELS, MAX_FRAMES, MAX_ID
from engine.media.fingerprint import media_stem
from engine.ontology import Ontology
from engine.types import Label, MediaInfo


@dataclass
class Dataset:
    """Everything an export needs, in project order.

    media: the media in export order; ``MediaInfo.name`` is the key `Label.media` uses.
    labels: any order; exporters sort by (media order, frame_index, object_id).
    object_names: optional display names by (media name, object id).
    source_key: for a dataset read from a file, the file's `engine.formats.inputs.content_key`:
        a project remembers which objects that file brought, so importing it again replaces
        them (`engine.formats.project_io.dataset_to_project`); "" otherwise.
    """

    ontology: Ontology
    media: list[MediaInfo]
    labels: list[Label]
    object_names: dict[tuple[str, int], str] = field(default_factory=dict)
    source_key: str = ""

    def media_named(self, name: str) -> MediaInfo:
        """The media called ``name`` (or whose export stem is ``name``); `ExportError` if none."""
        for info in self.media:
            if info.name == name:
                return info
        stems = self.stems()
        for info in self.media:
            if stems[info.name] == name:
                return info
        known = ", ".join(repr(m.name) for m in self.media) or "none"
        raise ExportError(f"no media {name!r} in the dataset; media: {known}")

    def select(self, media_name: str) -> Dataset:
        """The same dataset restricted to one media (by name or stem)."""
        info = self.media_named(media_name)
        labels = [label for label in self.labels if label.media == info.name]
        names = {k: v for k, v in self.object_names.items() if k[0] == info.name}
        return Dataset(self.ontology, [info], labels, names)

    def stems(self) -> dict[str, str]:
        """Media name -> a unique, file-system-safe folder/file stem (see `media_stem`)."""
        out: dict[str, str] = {}
        taken: set[str] = set()
        for info in self.media:
            stem = media_stem(info)
            candidate, n = stem, 2
            while candidate.lower() in taken:
                candidate, n = f"{stem}-{n}", n + 1
            taken.add(candidate.lower())
            out[info.name] = candidate
        return out

    def sorted_labels(self) -> list[Label]:
        """Labels sorted by (media order, frame_index, object_id)."""
        order = {info.name: index for index, info in enumerate(self.media)}
        return sorted(
            self.labels, key=lambda label: (order.get(label.media, len(order)), label.frame_index, label.object_id)
        )

    def labels_of(self, media_name: str) -> list[Label]:
        """The labels of one media, sorted by (frame_index, object_id)."""
        return sorted(
            (label for label in self.labels if label.media == media_name),
            key=lambda label: (label.frame_index, label.object_id),
        )

    def check(self) -> None:
        """Raise `ExportError` for media or labels an export cannot place.

        A media whose frame size or frame count is outside `engine.limits` (a project from an
        older version or a crafted database can declare one: exports allocate a frame and
        name frames by index); unknown media or class, a frame outside the media, an object
        id outside 1..`MAX_ID`, or two labels for the same (media, frame, object).
        """
        media = {info.name: info for info in self.media}
        if len(media) != len(self.media):
            raise ExportError("the dataset lists a media name twice")
        for entry in self.media:
            check_media_limits(entry)
        seen: set[tuple[str, int, int]] = set()
        for label in self.labels:
            where = f"label of object {label.object_id} on frame {label.frame_index} of {label.media!r}"
            info = media.get(label.media)
            if info is None:
                raise ExportError(f"{where}: unknown media {label.media!r}")
            if label.class_name not in self.ontology:
                raise ExportError(f"{where}: class {label.class_name!r} is not in the ontology")
            if not 0 <= label.frame_index < info.frames:
                raise ExportError(f"{where}: frame outside 0..{info.frames - 1}")
            if not 1 <= label.object_id <= MAX_ID:
                raise ExportError(f"{where}: object ids are 1..{MAX_ID}")
            key = (label.media, label.frame_index, label.object_id)
            if key in seen:
                raise ExportError(f"{where}: two labels for the same object and frame")
            seen.add(key)


def check_media_limits(info: MediaInfo) -> None:
    """`ExportError` for a media whose declared frame size or frame count breaks `engine.limits`."""
    where = f"media {info.name!r}"
    fix = "the project was altered outside framewise or made by an older version (export the other media with --media)"
    if not (1 <= info.width and 1 <= info.height and info.width * info.height <= MAX_FRAME_PIXELS):
        raise ExportError(
            f"{where} declares frames of {info.width}x{info.height} pixels, outside 1..{MAX_FRAME_PIXELS} "
            f"pixels a frame; {fix}"
        )
    if not 1 <= info.frames <= MAX_FRAMES:
        raise ExportError(f"{where} declares {info.frames} frames, outside 1..{MAX_FRAMES}; {fix}")


@dataclass(frozen=True)
class ImportSummary:
    """What `Dataset.to_project` did."""

    media_added: int
    labels: int
    objects: int
    remapped_objects: dict[tuple[str, int], int]




def frame_file_name(info: MediaInfo, frame_index: int, stem: str) -> str:
    """The relative image path an export names for one frame.

    Image folders: ``<stem>/<real file name>``; videos: ``<stem>/<frame:06d>.jpg``.
    """
    if info.frame_names and frame_index < len(info.frame_names):
        return f"{stem}/{info.frame_names[frame_index]}"
    return f"{stem}/{frame_index:06d}.jpg"


def portable_names(dataset: Dataset) -> dict[str, str]:
    """Media name -> the name an export writes (``video``, ``videos[].name``): the name when
    it is a relative path, else its last component (``/home/me/clips/a.mp4`` -> ``a.mp4``),
    made unique with ``-2``, ``-3``…: an export never holds a local absolute path."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    relative = {info.name for info in dataset.media if not _absolute(info.name)}
    for info in dataset.media:
        if info.name in relative:
            out[info.name] = info.name
            continue
        name = PureWindowsPath(info.name).name or PurePosixPath(info.name.replace("\\", "/")).name or "media"
        candidate, n = name, 2
        while candidate in taken or candidate in relative:
            stem, dot, suffix = name.rpartition(".")
            candidate = f"{stem}-{n}.{suffix}" if dot and stem else f"{name}-{n}"
            n += 1
        taken.add(candidate)
        out[info.name] = candidate
    return out


def _absolute(name: str) -> bool:
    text = name.replace("\\", "/")
    return text.startswith(("/", "~")) or (len(text) > 1 and text[1] == ":")


def portable(dataset: Dataset) -> tuple[Dataset, dict[str, MediaInfo]]:
    """``dataset`` with its media renamed by `portable_names` (labels and object names
    follow), and portable name -> the original `MediaInfo` (to find the media on disk)."""
    names = portable_names(dataset)
    originals = {names[info.name]: info for info in dataset.media}
    if all(old == new for old, new in names.items()):
        return dataset, originals
    return (
        Dataset(
            dataset.ontology,
            [replace(info, name=names[info.name]) for info in dataset.media],
            [replace(label, media=names.get(label.media, label.media)) for label in dataset.labels],
            {(names.get(media, media), oid): name for (media, oid), name in dataset.object_names.items()},
            dataset.source_key,
        ),
        originals,
    )


def label_fields(label: Label, names: dict[int, str]) -> dict:
    """What a format without framewise's fields carries of a label in its own block
    (Label Studio, LabelMe): source, score, confirmed, review, attributes, and the object's
    name when it has one (``names``: object id -> name)."""
    fields: dict = {
        "source": str(label.source),
        "score": float(label.score),
        "confirmed": bool(label.confirmed),
        "review": bool(label.review),
        "attributes": {str(k): str(v) for k, v in sorted(dict(label.attributes).items())},
    }
    if label.object_id in names:
        fields["name"] = names[label.object_id]
    return fields
