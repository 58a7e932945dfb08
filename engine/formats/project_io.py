"""Between a `Dataset` and an `engine.project.Project`: the export view and the import merge."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from engine.errors import ExportError, ProjectError
from engine.formats.dataset import Dataset, ImportSummary
from engine.limits import MAX_ID
from engine.types import MediaInfo

if TYPE_CHECKING:  # pragma: no cover
    from engine.project import Project


def dataset_from_project(project: Project) -> Dataset:
    """The project's ontology, media (in the order added), labels and object names.

    Keypoint labels (`Point`) are kept: the formats without a single keypoint leave them out
    with a count (`engine.formats.points.without_points`)."""
    names = {(record.media, record.object_id): record.name for record in project.objects() if record.name}
    return Dataset(project.ontology, project.media(), project.labels(), names)


def dataset_to_project(dataset: Dataset, project: Project) -> ImportSummary:
    """Merge ``dataset`` into ``project`` as one undoable change ("import").

    - Every class the labels use must be a project class of the same shape.
    - A media already in the project (same name) must have the same frame size and enough
      frames; others are added as they are. A media whose name the project lacks but that
      is one project media under another name is that media (`_known_media`): exports
      write an absolute media name as its last component, so re-importing one's own
      export lands on the media it came from.
    - Object ids are kept; an object whose id the project already uses for another media
      or another class gets a fresh id (``remapped_objects``: (media, old id) -> new id).
    - Importing the same file again replaces the labels it brought: the project remembers,
      by the file's ``dataset.source_key`` (a content hash, so any path to the same bytes),
      the id each of its objects got, and a re-import gives them those ids again (even
      after they were remapped, relabelled, or the import was undone).
    - Object names are set on the imported objects.
    All or nothing, one undoable change: a failure leaves the project as it was.
    """
    try:
        dataset.check()
    except ExportError as exc:
        raise ProjectError(f"{project.path}: cannot import: {exc}") from exc
    dataset = _known_media(dataset, project.media())
    for class_name in sorted({label.class_name for label in dataset.labels}):
        theirs = dataset.ontology[class_name]
        if class_name not in project.ontology:
            raise ProjectError(
                f"{project.path}: class {class_name!r} ({theirs.shape}) is not in the project; "
                f"project classes: {', '.join(project.ontology.names)}"
            )
        if project.ontology[class_name].shape != theirs.shape:
            raise ProjectError(
                f"{project.path}: class {class_name!r} is a {project.ontology[class_name].shape} class in the "
                f"project but {theirs.shape} in the import"
            )
    existing = {info.name: info for info in project.media()}
    for info in dataset.media:
        have = existing.get(info.name)
        needed = max([label.frame_index + 1 for label in dataset.labels if label.media == info.name] + [0])
        if have is not None and ((have.width, have.height) != (info.width, info.height) or have.frames < needed):
            raise ProjectError(
                f"{project.path}: media {info.name!r} is {have.width}x{have.height} with {have.frames} frames "
                f"in the project but the import has {info.width}x{info.height} and frame {needed - 1}"
            )
    objects = {(record.media, record.object_id): record.class_name for record in project.objects()}
    used_ids: dict[int, set[str]] = {}
    for media, object_id in objects:
        used_ids.setdefault(object_id, set()).add(media)
    classes: dict[tuple[str, int], str] = {}
    for label in dataset.labels:
        classes.setdefault((label.media, label.object_id), label.class_name)
    imported_ids = {object_id for _, object_id in classes}
    previous = _previous_import(project, dataset.source_key)
    added = 0
    with project.group("import"):
        for info in dataset.media:
            if info.name not in existing:
                project.add_media(info)
                added += 1
        # The ids an earlier import of this file gave its objects come first, so a
        # re-import lands on the same objects; then the file's own ids where they are free.
        targets: dict[tuple[str, int], int] = {}
        taken: set[tuple[str, int]] = set()  # (media, project id) given to an object of this import
        for (media, object_id), target in previous.items():
            if (media, object_id) in classes and (media, target) not in taken and not used_ids.get(target, set()) - {media}:
                targets[(media, object_id)] = target
                taken.add((media, target))
        for (media, object_id), class_name in classes.items():
            if (media, object_id) in targets:
                continue
            clash = (
                objects.get((media, object_id), class_name) != class_name
                or bool(used_ids.get(object_id, set()) - {media})
                or (media, object_id) in taken
            )
            target = object_id
            if clash:
                target = project.next_object_id()
                while target in imported_ids:  # never hand out an id the import itself brings
                    target = project.next_object_id()
            targets[(media, object_id)] = target
            taken.add((media, target))
        for label in dataset.sorted_labels():
            project.put(replace(label, object_id=targets[(label.media, label.object_id)]), kind="import")
        for (media, object_id), name in dataset.object_names.items():
            if (media, object_id) in classes:
                project.rename_object(media, targets[(media, object_id)], name)
        if dataset.source_key:
            record = {"objects": [[media, object_id, target] for (media, object_id), target in targets.items()]}
            project.set_import_record(dataset.source_key, json.dumps(record, separators=(",", ":")))
    remap = {key: target for key, target in targets.items() if target != key[1]}
    return ImportSummary(added, len(dataset.labels), len(classes), remap)


def _known_media(dataset: Dataset, known: list[MediaInfo]) -> Dataset:
    """``dataset`` with each media the project knows under another name renamed to that
    name: the one project media of the same fingerprint (when both have one), size and
    frame count, else the one of the same last path component, size and frame count."""
    names = {info.name for info in known}
    ours = {info.name for info in dataset.media}
    renamed: dict[str, str] = {}
    for info in dataset.media:
        if info.name in names:
            continue
        fits = [k for k in known if (k.width, k.height, k.frames) == (info.width, info.height, info.frames)]
        same = [k for k in fits if info.fingerprint and k.fingerprint == info.fingerprint]
        if not same and not info.fingerprint:
            same = [k for k in fits if _last(k.name) == _last(info.name)]
        if len(same) == 1 and same[0].name not in renamed.values() and same[0].name not in ours:
            renamed[info.name] = same[0].name
    if not renamed:
        return dataset
    media = [replace(info, name=renamed.get(info.name, info.name)) for info in dataset.media]
    labels = [replace(label, media=renamed.get(label.media, label.media)) for label in dataset.labels]
    object_names = {(renamed.get(m, m), o): n for (m, o), n in dataset.object_names.items()}
    return Dataset(dataset.ontology, media, labels, object_names, dataset.source_key)


def _last(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/").rstrip("/")).name


def _previous_import(project: Project, key: str) -> dict[tuple[str, int], int]:
    """(media, file's object id) -> project object id, from an earlier import of file ``key``."""
    text = project.import_record(key) if key else None
    if text is None:
        return {}
    try:
        entries = json.loads(text)["objects"]
        found = {(str(m), int(o)): int(t) for m, o, t in entries if isinstance(m, str) and 1 <= int(t) <= MAX_ID}
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise ProjectError(
            f"{project.path}: the record of an earlier import of this file ({key}) is corrupt ({exc})"
        ) from exc
    return found
