"""The window says what it is: the SAM panel docked beside the frame (never over it) naming
the weight-free segmenter, Tab's candidate shown, stale texts cleared, the shortcut sheet
(F1, ?), the opening size, the Open dialog's filters and a Pause the fonts can draw. The
real app under Xvfb, driven with real X input (xdotool)."""

from __future__ import annotations

import gc
import shutil
import subprocess
import tkinter as tk
import tkinter.font as tkfont
from typing import Any

import cv2
import numpy as np
import pytest

from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Proposal
from tests.ui.gui import (
    BALL_CLICK,
    SAMPLES,
    apply_ball,
    close_project_app,
    ontology,
    open_project_app,
    pump,
    slow_down_propagation,
    xdotool,
)
from tests.ui.test_ui_dialogs import drive_dialog
from ui.keys import SHORTCUT_HELP, shortcut_table
from ui.menus import ask_open
from ui.sam_panel import SAM2_TITLE, SAM_TITLE, WEIGHT_FREE_TITLE, SamPanel
from ui.screen import initial_size
from ui.shortcut_sheet import key_text, shortcut_rows


def focus_main(app: Any) -> None:
    """Give the main window the keyboard focus, as a click on it would."""
    app.root.deiconify()
    app.root.lift()
    app.view.focus_force()
    pump(app.root, 0.2)


def press(app: Any, *keys: str) -> None:
    """Real key presses (xdotool) into the main window."""
    focus_main(app)
    xdotool(app, "key", "--delay", "80", *keys)


def click_frame(app: Any, x: float, y: float, button: int = 1) -> None:
    """A real pointer click at frame pixel (x, y)."""
    cx, cy = app.view.viewport.frame_to_canvas(x, y)
    sx, sy = app.view.winfo_rootx() + int(round(cx)), app.view.winfo_rooty() + int(round(cy))
    xdotool(app, "mousemove", "--sync", str(sx), str(sy), "click", str(button))


def screen_box(widget: tk.Misc) -> tuple[int, int, int, int]:
    x, y = widget.winfo_rootx(), widget.winfo_rooty()
    return x, y, x + widget.winfo_width(), y + widget.winfo_height()


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_sam_panel_sits_beside_the_frame_and_names_the_weight_free_segmenter(app):
    press(app, "shift+a")
    panel = app.sam_panel
    assert app.state.sam_mode and panel.shown and panel.winfo_ismapped()
    assert panel.heading.cget("text") == WEIGHT_FREE_TITLE == "SAM mode · weight-free segmenter"
    note = panel.note.cget("text")
    assert panel.note.winfo_ismapped() and "--checkpoint" in note and "FRAMEWISE_SAM_CHECKPOINT" in note
    view, docked, window = screen_box(app.view), screen_box(panel), screen_box(app.root)
    assert not overlap(view, docked), (view, docked)
    assert docked[0] >= view[2] - 1, "the panel is beside the frame, on its right"
    assert window[0] <= docked[0] and docked[2] <= window[2] and window[1] <= docked[1] and docked[3] <= window[3]
    assert panel.winfo_reqheight() <= panel.winfo_height(), "the panel's content is cut off"
    # the frame image is inside the canvas, so nothing of it is under the panel
    left, top = app.view.coords(app.view._image_item)
    assert app.view.winfo_rootx() + left + app.view._photo.width() <= docked[0] + 1
    # it stays where it is: off and on again, same place
    press(app, "shift+a")
    assert not panel.shown and not app.state.sam_mode
    press(app, "shift+a")
    assert panel.shown and screen_box(panel) == docked
    click_frame(app, *BALL_CLICK)
    assert app.state.selection is not None and app.state.selection[BALL_CLICK[1], BALL_CLICK[0]]


@pytest.mark.parametrize(("backend", "title"), [("sam", SAM_TITLE), ("sam2", SAM2_TITLE)])
def test_sam_panel_names_sam_when_sam_answers(screen, backend, title):
    root = tk.Tk()
    try:
        panel = SamPanel(root, on_quality=lambda q: None, on_reset=lambda: None, on_apply=lambda: None, backend=backend)
        panel.pack()
        root.update()
        assert panel.heading.cget("text") == title
        assert not panel.note.winfo_ismapped()
    finally:
        root.destroy()
        gc.collect()


class ThreeCandidates(ClassicSegmenter):
    """The classic segmenter with two more candidates (grown, shrunk), as SAM's multimask
    output gives three."""

    def predict(self, embedding, prompt):  # type: ignore[no-untyped-def]
        best = super().predict(embedding, prompt)
        mask = best.mask(0).astype(np.uint8)
        kernel = np.ones((9, 9), np.uint8)
        masks = np.stack([mask, cv2.dilate(mask, kernel), cv2.erode(mask, kernel)]).astype(bool)
        logits = np.repeat(best.logits[:1], 3, axis=0)
        return Proposal.from_masks(masks, np.array([best.scores[0], 0.5, 0.4], np.float32), logits)


def test_tab_shows_which_candidate_and_how_many(screen):
    from engine.editing.editor import Editor
    from ui.app import App

    root = tk.Tk()
    editor = Editor(ThreeCandidates(), ontology())
    editor.open(SAMPLES / "video.mp4")
    app = App(root, editor, backend="classic")
    try:
        app.wait_idle()
        press(app, "shift+a")
        assert app.sam_panel.candidate.get() == "no selection yet: click or drag a box"
        click_frame(app, *BALL_CLICK)
        assert app.state.candidates == 3
        assert app.sam_panel.candidate.get().startswith("candidate 1/3 · score ")
        press(app, "Tab")
        assert app.state.candidate == 1
        assert app.sam_panel.candidate.get() == "candidate 2/3 · score 0.50 · Tab: next"
        assert app.sam_panel.candidate_label.winfo_ismapped()
        press(app, "Tab", "Tab")
        assert app.state.candidate == 0 and app.sam_panel.candidate.get().startswith("candidate 1/3")
        press(app, "Escape")
        assert app.sam_panel.candidate.get() == "no selection yet: click or drag a box"
    finally:
        app.close()
        root.destroy()
        gc.collect()  # Tk variables and images are finalised here, on the Tk thread


def test_undo_and_a_media_switch_clear_the_progress_and_status(screen, tmp_path, short_clip, ontology_file):
    app, project = open_project_app(tmp_path / "project", ontology_file, short_clip)
    try:
        apply_ball(app)
        app.propagate(1)
        app.wait_idle()
        pump(app.root, 0.3)
        assert "propagated to frame 6" in app.controls.progress_text.get()
        press(app, "ctrl+z")  # the propagation is taken back: its report goes
        assert app.state.marks.tolist() == [1, 0, 0, 0, 0, 0]
        assert app.controls.progress_text.get() == "" and float(app.controls.progress.cget("value")) == 0
        assert app.sam_panel.status.get() == "ready"
        assert str(app.controls.stop_button.cget("state")) == "disabled"
        app.propagate(1)
        app.wait_idle()
        pump(app.root, 0.3)
        assert "propagated to frame 6" in app.controls.progress_text.get()
        app.open_media(str(SAMPLES / "video.mp4"))  # another media: nothing of the last one's run
        app.wait_idle()
        assert app.state.frame_count == 48
        assert app.controls.progress_text.get() == "" and float(app.controls.progress.cget("value")) == 0
        assert app.sam_panel.status.get() == "ready"
    finally:
        close_project_app(app, project)


def test_stop_leaves_no_running_progress_or_busy_status(screen, tmp_path, short_clip, ontology_file):
    app, project = open_project_app(tmp_path / "project", ontology_file, short_clip)
    try:
        apply_ball(app)
        slow_down_propagation(app, 0.4)
        app.propagate(1)
        stop = app.controls.stop_button
        for _ in range(100):  # the first frame's report enables Stop
            pump(app.root, 0.05)
            if str(stop.cget("state")) == "normal":
                break
        assert str(stop.cget("state")) == "normal"
        xdotool(app, "mousemove", "--sync", str(stop.winfo_rootx() + 8), str(stop.winfo_rooty() + 8), "click", "1")
        app.wait_idle()
        pump(app.root, 0.3)
        text = app.controls.progress_text.get()
        assert not text.startswith("frame "), f"a running run's report is left: {text!r}"
        assert "propagating" not in app.sam_panel.status.get() and "propagating" not in app.status.get()
        assert str(stop.cget("state")) == "disabled"
    finally:
        close_project_app(app, project)


def test_f1_and_question_mark_open_the_shortcut_sheet(app):
    table = shortcut_table(app)
    undescribed = sorted(set(table) - set(SHORTCUT_HELP))
    assert not undescribed, f"add a line to ui.keys.SHORTCUT_HELP for {undescribed}"
    press(app, "F1")
    sheet = app.menus.help_window
    assert sheet is not None and sheet.winfo_exists() and sheet.winfo_ismapped()
    listed = sheet.listed()
    assert listed == shortcut_rows(table)
    shown_keys = " / ".join(keys for keys, _ in listed)
    for sequence in table:  # every binding is on the sheet, by its key
        name = key_text(sequence)
        assert name in shown_keys or (name.isdigit() and "1–9" in shown_keys), sequence
    rows = dict((text, keys) for keys, text in listed)
    assert rows["next candidate mask (the SAM panel shows which)"] == "Tab"
    assert rows["redo"] == "Ctrl+Shift+Z / Ctrl+Y" and rows["choose a class (its hotkey, else its place in the list)"] == "1–9"
    assert rows["this list of shortcuts"] == "F1 / ?"
    assert not app._playing and not app.state.sam_mode, "a key opened the sheet and did something else too"
    xdotool(app, "search", "--sync", "--name", "keyboard shortcuts", "windowfocus", "--sync", "%1")
    xdotool(app, "key", "p", "Escape")  # keys in the sheet are the sheet's: p does not play
    assert not sheet.winfo_exists() and not app._playing
    press(app, "question")
    sheet = app.menus.help_window
    assert sheet is not None and sheet.winfo_exists() and sheet.listed() == listed
    bar = app.menus.bar
    labels = [bar.entrycget(i, "label") for i in range(bar.index("end") + 1) if bar.type(i) == "cascade"]
    assert labels[-1] == "Help"
    help_menu = app.root.nametowidget(bar.entrycget("end", "menu"))
    assert help_menu.entrycget(0, "label") == "Keyboard shortcuts" and help_menu.entrycget(0, "accelerator") == "F1"
    sheet.destroy()


def test_the_window_opens_at_most_of_the_screen(app):
    root = app.root
    pump(root, 0.2)
    screen_w, screen_h = root.winfo_screenwidth(), root.winfo_screenheight()
    assert (screen_w, screen_h) == (1400, 900)  # the test screen
    assert (root.winfo_width(), root.winfo_height()) == (1260, 760)
    assert root.winfo_rootx() >= 0 and root.winfo_rooty() >= 0
    assert root.winfo_rootx() + root.winfo_width() <= screen_w and root.winfo_rooty() + root.winfo_height() <= screen_h
    assert initial_size(1920, 1080) == (1728, 912)  # 90%, title and menu bars included
    assert initial_size(1280, 800) == (1180, 660)  # the classic width; 760 + the bars does not fit
    assert initial_size(1366, 900) == (1229, 760)  # never below the classic size where it fits
    assert initial_size(1024, 700) == (921, 570)  # a small screen: 90% of it


def test_the_open_dialog_filters_supported_media(screen, tmp_path, ontology_file, monkeypatch):
    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("clip.mp4", "CLIP2.MOV", "photo.png", "notes.txt", "data.csv"):
        (folder / name).write_bytes(b"")
    monkeypatch.chdir(folder)  # the Open dialog starts here
    app, project = open_project_app(tmp_path / "project", ontology_file)
    seen: dict[str, Any] = {}

    def read_dialog() -> bool:
        call = app.root.tk.call
        dialog = ".__tk_filedialog"
        if not call("winfo", "exists", dialog):
            return False
        menu = f"{dialog}.contents.f2.menu.m"
        seen["types"] = [str(call(menu, "entrycget", i, "-label")) for i in range(int(call(menu, "index", "end")) + 1)]
        seen["filter"] = str(call("set", "::tk::dialog::file::__tk_filedialog(filter)"))
        icons = f"{dialog}.contents.icons"
        seen["files"] = sorted(str(call(icons, "get", i)) for i in range(int(call(icons, "index", "end"))))
        return True

    try:
        drive_dialog(app, lambda: ask_open(app), "Open a video", [["key", "Escape"]], ready=read_dialog)
        names = [t.split(" (")[0] for t in seen["types"]]  # Tk adds "(*.avi,*.AVI,…)"
        assert names == ["Videos and images", "Videos", "Images", "All files"], seen["types"]
        assert "*.mp4" in seen["filter"] and "*.MOV" in seen["filter"] and "*.png" in seen["filter"]
        assert seen["files"] == ["CLIP2.MOV", "clip.mp4", "photo.png"]  # no notes.txt, no data.csv
        assert app.error is None
    finally:
        close_project_app(app, project)


def test_the_pause_symbol_is_in_the_default_fonts(app):
    button = app.controls.play_button
    assert button.cget("text") == "▶ Play"
    press(app, "p")
    assert app._playing
    playing = str(button.cget("text"))
    assert playing.endswith("Pause")
    press(app, "p")
    assert not app._playing and button.cget("text") == "▶ Play"
    if shutil.which("fc-list") is None:
        pytest.skip("fc-list (fontconfig) is not installed")
    family = tkfont.nametofont("TkDefaultFont").actual("family")
    for text in (playing, "▶ Play"):
        for char in {c for c in text if ord(c) > 127}:
            fonts = subprocess.run(["fc-list", f":charset={ord(char):x}", "family"], capture_output=True, text=True).stdout
            assert family in fonts, f"{char!r} (U+{ord(char):04X}) is not in {family}, the default font"
