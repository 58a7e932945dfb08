"""No export holds a local absolute path: a media named by its absolute path (as the editor
stores what it opened) is written by its file name in every format, and ``--with-frames``
still finds it on disk."""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest

from engine.errors import FormatWarning
from engine.formats.dataset import Dataset
from engine.formats.writers import FORMATS, FRAME_FORMATS, ExportOptions, export_dataset
from engine.media.fingerprint import media_fingerprint
from tests.formats.test_export_samples import ROOT, sample_dataset


def absolute_dataset() -> Dataset:
    base = sample_dataset()
    names = {info.name: str((ROOT / info.name).resolve()) for info in base.media}
    return Dataset(
        base.ontology,
        [replace(info, name=names[info.name], fingerprint=media_fingerprint(ROOT / info.name)) for info in base.media],
        [replace(label, media=names[label.media]) for label in base.labels],
        {(names[media], oid): name for (media, oid), name in base.object_names.items()},
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_export_holds_a_local_absolute_path(tmp_path, fmt):
    dataset = absolute_dataset()
    options = ExportOptions(with_frames=fmt in FRAME_FORMATS)  # the default locator: the name as stored
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FormatWarning)
        written = export_dataset(dataset, fmt, tmp_path, options)
    assert written
    root = str(ROOT.resolve())
    for path in tmp_path.rglob("*"):
        assert root not in str(path.relative_to(tmp_path))
        if path.is_file() and path.suffix in (".json", ".xml", ".txt", ".ini", ".yaml"):
            assert root not in path.read_text(encoding="utf-8"), path
    if fmt in FRAME_FORMATS:  # the frames were found through the original (absolute) names
        assert any(p.suffix in (".jpg", ".png") or p.name.startswith("frame_") for p in written)
