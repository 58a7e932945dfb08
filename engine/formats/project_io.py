"""Between a `Dataset` and an `engine.project.Project`: the export view and the import merge."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.errors import ExportError, ProjectError
from engine.formats.dataset import Dataset, ImportSummary
from engine.limits import MAX_ID

if TYPE_CHECKING:  # pragma: no cover
    from engine.project import Project


def dataset_from_project(project: Project) -> Dataset:
    """The project's ontology, media (in the order added), labels and object names."""
    names = {(record.media, record.object_id): record.name for record in project.objects() if record.name}
    return Dataset(project.ontology, project.media(), project.labels(), names)


def dataset_to_project(dataset: Dataset, project: Project) -> ImportSummary:
    """Merge ``dataset`` into ``project`` as one undoable change ("import").

    - Every class the labels use must be a project class of the same shape.
    - A media already in the project (same name) must have the same frame size and enough
      frames; others are added as they are.
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
