"""Fixtures of the GUI tests: the Xvfb screen, the window, and a guard that fails any test
during which a Tk callback raised."""

from __future__ import annotations

import gc
import os
import shutil
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

from tests.ui.gui import SAMPLES, TkErrors, VirtualScreen, ontology, pump


@pytest.fixture(autouse=True)
def tk_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[TkErrors]:
    """Fail the test when any Tk callback raised during it.

    Tkinter hands an exception escaping a binding, a command or an ``after`` callback to
    ``Tk.report_callback_exception``, which prints it and lets the event loop go on, so a
    broken callback would pass unnoticed. The window installs its own handler, which
    shows the error and then calls the class's (this collector). A test that provokes an
    error on purpose checks and clears the list.
    """
    import tkinter as tk

    errors = TkErrors()

    def collect(self: tk.Tk, kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, error, trace))
        errors.append(text)
        print(f"Tk callback error:\n{text}")

    monkeypatch.setattr(tk.Tk, "report_callback_exception", collect)
    yield errors
    if errors:
        pytest.fail(f"{len(errors)} Tk callback error(s) during the test:\n{errors.text()}", pytrace=False)


@pytest.fixture(scope="session")
def screen() -> Iterator[VirtualScreen]:
    """One Xvfb screen for every GUI test: Tk keeps its display connections until the
    process ends, so a Tk made after an earlier screen went away would crash."""
    xvfb = VirtualScreen()
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = xvfb.display
    yield xvfb
    if old is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = old
    xvfb.close()


@pytest.fixture
def app(screen: VirtualScreen) -> Iterator:
    """The window on the sample video, with labels in memory."""
    import tkinter as tk

    from engine.editing.editor import Editor
    from engine.segment.classic.segmenter import ClassicSegmenter
    from ui.app import App

    root = tk.Tk()
    editor = Editor(ClassicSegmenter(), ontology())
    editor.open(SAMPLES / "video.mp4")
    application = App(root, editor, backend="classic")
    application.wait_idle()
    pump(root, 0.05)
    yield application
    application.close()
    root.destroy()
    gc.collect()  # Tk variables and images are finalised here, on the Tk thread


@pytest.fixture
def ontology_file(tmp_path: Path) -> Path:
    import json

    path = tmp_path / "ontology.json"
    path.write_text(json.dumps(ontology().to_json()))
    return path


@pytest.fixture
def short_clip(tmp_path: Path) -> Path:
    """The first 6 frames of the sample image folder."""
    folder = tmp_path / "clip"
    folder.mkdir()
    for k in range(6):
        shutil.copy(SAMPLES / "frames" / f"frame_{k}.jpg", folder / f"frame_{k}.jpg")
    return folder
