"""Projects: a folder with ``project.sqlite`` holding media, ontology, labels, events and undo history.

    with Project.create("my_project", ontology) as project:
        editor = Editor(make_segmenter("classic"), project.ontology, store=project)
        editor.open("clip.mp4")   # registers the media; every event is stored
"""

from engine.editing.history import ChangeSet, ObjectRecord
from engine.errors import ProjectError
from engine.project.folder import open_or_create
from engine.project.schema import LABEL_SOURCES, PROJECT_FILE, SCHEMA_VERSION
from engine.project.store import Project

__all__ = [
    "Project", "open_or_create", "ProjectError", "ObjectRecord", "ChangeSet", "SCHEMA_VERSION", "PROJECT_FILE", "LABEL_SOURCES",
]
