"""Dialogs, focus and callback errors: keys typed into a dialog or a text field are not
shortcuts, results that arrive while a Tk file dialog has the focus are shown, and a
callback that raises neither freezes the window nor goes unnoticed."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import tkinter as tk
from collections.abc import Callable
from typing import Any

import pytest

from tests.ui.gui import (
    BALL_CLICK,
    TkErrors,
    apply_ball,
    click_canvas,
    close_project_app,
    key,
    open_project_app,
    pump,
    slow_down_propagation,
    stored_labels,
    xdotool,
)
from ui.menus import ask_export, ask_open


def drive_dialog(app: Any, open_dialog: Callable[[], None], title: str, actions: list[list[str]],
                 ready: Callable[[], bool] = lambda: True, timeout: float = 40.0) -> None:
    """Open a dialog from the event loop, as its menu entry does (the call returns when the
    dialog closes), and work it with real X input: wait for the window titled ``title``,
    give it the focus as a click on it would, then, once ``ready()``, run the xdotool
    commands ``actions`` one after the other. A watchdog cancels the dialog after ``timeout`` s so a failure cannot hang."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (`make test` installs it with apt-get)")
    root = app.root
    closed: list[bool] = []
    helpers: list[subprocess.Popen] = [subprocess.Popen(
        ["timeout", "20", "xdotool", "search", "--sync", "--name", title, "windowfocus", "--sync", "%1"])]

    def opener() -> None:
        try:
            open_dialog()
        finally:
            closed.append(True)

    def act_when_ready() -> None:
        if helpers[0].poll() is None or not ready():
            root.after(50, act_when_ready)
        else:
            time.sleep(0.3)  # the dialog's own focus handling has settled
            script = " && ".join(shlex.join(["xdotool", *command]) for command in actions)
            helpers.append(subprocess.Popen(["sh", "-c", script]))

    def watchdog() -> None:
        if not closed:  # Tk's file dialogs wait on this variable; "" is Cancel
            root.tk.call("set", "::tk::Priv(selectFilePath)", "")
            for window in root.winfo_children():  # the editor's own dialogs (FolderDialog)
                if isinstance(window, tk.Toplevel):
                    window.destroy()

    root.after(0, opener)
    root.after(100, act_when_ready)
    watchdog_id = root.after(int(timeout * 1000), watchdog)
    deadline = time.monotonic() + timeout + 10
    while not closed and time.monotonic() < deadline:
        root.update()  # blocks in the dialog's own wait until it closes
        time.sleep(0.005)
    root.after_cancel(watchdog_id)
    for helper in helpers:
        helper.wait(20)
    assert helpers[0].returncode == 0, f"no window titled {title!r} appeared"
    assert len(helpers) == 2 and helpers[1].returncode == 0, "the keys were not sent"
    pump(root, 0.2)


def test_typing_a_path_with_p_in_the_export_dialog_neither_plays_nor_freezes(screen, tmp_path, ontology_file, monkeypatch):
    exports = tmp_path / "exports"
    exports.mkdir()
    monkeypatch.chdir(exports)  # a relative path typed is taken in the working folder
    app, project = open_project_app(tmp_path / "project", ontology_file)
    try:
        apply_ball(app)
        # A folder that does not exist yet, typed over the suggestion: one Enter exports.
        drive_dialog(app, lambda: ask_export(app, "coco"), "Export coco",
                     [["type", "--delay", "60", "snap"], ["key", "--delay", "300", "Return"]])
        app.wait_idle()
        assert not app._playing, "typing p in the dialog toggled playback"
        assert app.state.frame_index == 0
        assert list((exports / "snap").rglob("*.json")), "the dialog's Enter did not export"
        status = app.status.get()
        assert status.startswith("exported coco: ") and status.endswith(f" files to {exports / 'snap'}"), status
        key(app, "<Right>")  # the window still answers
        assert app.state.frame_index == 1 and app.controls.frame_box.get() == "2"
    finally:
        close_project_app(app, project)


def test_a_propagation_that_ends_while_the_open_dialog_has_focus_is_shown(screen, tmp_path, short_clip, ontology_file):
    app, project = open_project_app(tmp_path / "project", ontology_file, short_clip)
    try:
        apply_ball(app)
        slow_down_propagation(app, 0.4)
        app.propagate(1)
        drive_dialog(app, lambda: ask_open(app), "Open a video", [["key", "Escape"]],
                     ready=lambda: not app.worker.busy)
        app.wait_idle()
        assert app.error is None
        assert app.state.marks.tolist() == [1, 2, 2, 2, 2, 2]
        assert len(app.timeline.find_withtag("mark-2")) == 5
        assert "propagated to frame 6" in app.controls.progress_text.get()
        key(app, "<Right>")
        assert app.state.frame_index == 1 and app.controls.frame_box.get() == "2"
    finally:
        close_project_app(app, project)


def test_enter_that_dismisses_an_error_dialog_does_not_apply(screen, tmp_path, ontology_file):
    from engine.errors import ProjectError

    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file)
    try:
        key(app, "<Shift-A>")
        click_canvas(app, *BALL_CLICK)
        real_put = project.put

        def full_disk(*args: Any, **kwargs: Any) -> None:
            raise ProjectError("cannot save: database or disk is full")

        project.put = full_disk
        key(app, "<Return>")
        dialog = app.dialog
        assert dialog is not None and dialog.winfo_exists()
        project.put = real_put  # space freed; the person only wants the message gone
        pump(app.root, 0.3)
        xdotool(app, "search", "--name", "framewise: error", "windowfocus", "--sync", "%1")  # a click on it
        xdotool(app, "key", "Return")
        assert not dialog.winfo_exists()
        assert stored_labels(folder) == [], "Enter on the dialog applied the selection"
        assert app.state.selection is not None
        app.root.focus_force()
        key(app, "<Return>")  # in the main window Enter applies
        assert stored_labels(folder) == [(0, 1, "sam")]
    finally:
        close_project_app(app, project)


def test_keys_typed_into_the_frame_box_are_text_and_the_sam_popup_takes_shortcuts(app):
    root = app.root
    application_wide = root.bind_all()  # none of the shortcuts: dialogs keep their keys
    assert not {"<Key-Tab>", "<Key-p>", "<Key-Return>", "<Key-Escape>"} & set(application_wide)
    assert "TabToWindow" in root.bind_all("<<NextWindow>>")  # Tab still moves the focus there
    root.deiconify()
    root.lift()
    root.focus_force()
    pump(root, 0.3)
    box = app.controls.frame_box
    xdotool(app, "mousemove", "--sync", str(box.winfo_rootx() + 10), str(box.winfo_rooty() + 5), "click", "1")
    xdotool(app, "key", "ctrl+a", "ctrl+k")  # Tk's entry: to line start, delete to the end
    xdotool(app, "type", "--delay", "60", "p2n3")
    assert box.get() == "p2n3"
    assert not app._playing and app.state.class_name == "ball" and app.state.frame_index == 0
    xdotool(app, "key", "ctrl+a", "ctrl+k")
    xdotool(app, "type", "--delay", "60", "12")
    xdotool(app, "key", "Return")
    assert app.state.frame_index == 11
    key(app, "<Shift-A>")
    click_canvas(app, *BALL_CLICK)
    app.sam_panel.apply_button.focus_force()  # the pop-up lists Enter: apply label
    pump(root, 0.2)
    app.sam_panel.apply_button.event_generate("<Return>")
    app.wait_idle()
    assert len(app.state.labels) == 1


def test_a_callback_that_raises_is_reported_and_the_window_keeps_working(app, tk_errors: TkErrors):
    def broken(_: Any) -> None:
        raise RuntimeError("a bug in a result callback")

    app.run(lambda: None, then=broken)
    app.wait_idle()
    assert len(tk_errors) == 1 and "a bug in a result callback" in tk_errors[0]
    assert "internal error: RuntimeError: a bug in a result callback" in app.status.get()
    key(app, "<Right>")  # later results are still delivered
    assert app.state.frame_index == 1

    real = app.controls.set_progress
    calls: list[int] = []

    def broken_progress(done: int, total: int, text: str) -> None:
        calls.append(done)
        if len(calls) == 1:
            raise RuntimeError("a bug in the progress display")
        real(done, total, text)

    app.controls.set_progress = broken_progress  # type: ignore[method-assign]
    app.propagation._report(_Progress(1))
    pump(app.root, 0.25)
    app.propagation._report(_Progress(2))
    pump(app.root, 0.25)
    assert calls[0] == 1 and 2 in calls, "the progress poll stopped after the error"
    assert len(tk_errors) == 2 and "a bug in the progress display" in tk_errors[1]
    tk_errors.clear()  # provoked on purpose


def test_the_guard_catches_errors_in_after_callbacks(app, tk_errors: TkErrors):
    app.root.after(0, lambda: 1 / 0)
    pump(app.root, 0.1)
    assert len(tk_errors) == 1 and "ZeroDivisionError" in tk_errors[0]
    tk_errors.clear()


class _Progress:
    """What `engine.propagation.permanent.PropagationProgress` carries, for the poll."""

    def __init__(self, done: int) -> None:
        self.frame_index, self.done, self.total, self.written, self.flagged = done, done, 5, done, 0


@pytest.mark.parametrize("answer", ["yes", "no"])
def test_exporting_into_a_folder_that_holds_files_asks_before_replacing_it(
    screen, tmp_path, ontology_file, monkeypatch, answer
):
    """A folder holding an earlier export is replaced only on Yes (no stale label files
    left for a trainer to read); on No nothing in it changes and nothing is exported."""
    from ui import menus

    target = tmp_path / "exports"
    target.mkdir()
    stale = target / "labels" / "old_frame.txt"
    stale.parent.mkdir()
    stale.write_text("0 0.5 0.5 0.1 0.1\n")
    monkeypatch.setattr(menus, "ask_folder", lambda *args, **kwargs: str(target))
    app, project = open_project_app(tmp_path / "project", ontology_file)
    try:
        apply_ball(app)
        keys = ["Return"] if answer == "yes" else ["alt+n"]
        drive_dialog(app, lambda: ask_export(app, "coco"), "Export coco", [["key", "--delay", "200", *keys]])
        app.wait_idle()
        exported = target / "annotations" / "instances_default.json"
        if answer == "yes":
            assert not stale.exists() and exported.is_file(), sorted(p.name for p in target.rglob("*"))
            assert "exported coco" in app.status.get()
        else:
            assert stale.read_text() == "0 0.5 0.5 0.1 0.1\n" and not exported.exists()
            assert sorted(p.name for p in target.iterdir()) == ["labels"]
        # the menu entry's export into the same folder without asking is refused, the folder kept
        before = sorted(p.relative_to(target) for p in target.rglob("*"))
        app.export("coco", str(target))
        app.wait_idle()
        assert app.error is not None and "not empty" in app.error
        assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    finally:
        close_project_app(app, project)
