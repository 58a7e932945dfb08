"""The real Tk label editor under Xvfb, driven with generated input events."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.editing.editor import Editor
from engine.geometry import mask_iou, shape_to_mask
from engine.media.images import read_id_mask
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Box, Point, Polygon
from tests.ui.gui import (
    BALL_CLICK,
    LEAF_BOX,
    SAMPLES,
    apply_ball,
    click_canvas,
    close_project_app,
    drag_canvas,
    focus_window,
    key,
    ontology,
    open_project_app,
    pump,
    stored_labels,
    xdotool,
)
from ui.colours import object_colour


def gt(object_id: int, frame_index: int = 0) -> np.ndarray:
    return read_id_mask(SAMPLES / "masks" / "video" / f"{frame_index:05d}.png") == object_id


def headless_mask(points, positives, quality: float = 0.6) -> np.ndarray:
    """What the Editor gives for the same clicks without the UI."""
    with Editor(ClassicSegmenter(), ontology(), quality=quality) as editor:
        editor.open(SAMPLES / "video.mp4")
        editor.toggle_sam()
        for (x, y), positive in zip(points, positives):
            editor.click(x, y, positive)
        return editor.selection_mask()


def shown_pixel(app, x: int, y: int) -> np.ndarray:
    """The RGB the canvas image shows at frame pixel (x, y)."""
    view = app.view.viewport
    region = view.visible_region()
    cx, cy = view.frame_to_canvas(x, y)
    left, top = view.edge_to_canvas(region[0], region[1])
    return np.array(app.view._photo.get(int(cx - round(left)), int(cy - round(top))), float)


def test_shift_a_toggles_sam_mode_and_shows_the_popup(app):
    assert not app.state.sam_mode
    assert not app.sam_panel.shown
    key(app, "<Shift-A>")
    assert app.state.sam_mode and app.editor.sam_mode
    assert app.sam_panel.shown
    assert "Left click: include point" in app.sam_panel.instructions.cget("text")
    assert app.sam_panel.status.get() == "ready"
    key(app, "<Shift-A>")
    assert not app.state.sam_mode
    assert not app.sam_panel.shown


def test_left_click_selects_the_object_in_blue(app):
    key(app, "<Shift-A>")
    before = shown_pixel(app, *BALL_CLICK)
    far = [(20, 20), (620, 30), (600, 340)]  # pixels away from the ball
    far_before = [shown_pixel(app, x, y) for x, y in far]
    click_canvas(app, *BALL_CLICK)
    mask = app.state.selection
    assert mask is not None and mask[BALL_CLICK[1], BALL_CLICK[0]]
    assert np.array_equal(mask, headless_mask([BALL_CLICK], [True]))
    assert mask_iou(mask, gt(1)) > 0.3
    after = shown_pixel(app, *BALL_CLICK)
    # Blue tint: the blue channel rises, red falls, where the mask is.
    assert after[2] > before[2] + 20 and after[0] < before[0]
    for (x, y), was in zip(far, far_before):  # outside the selection the frame shows untinted
        assert not mask[y, x]
        assert np.array_equal(shown_pixel(app, x, y), was)
    assert len(app.view.find_withtag("point")) == 1


def test_right_click_excludes_and_reset_starts_again(app):
    key(app, "<Shift-A>")
    click_canvas(app, *BALL_CLICK)
    click_canvas(app, 420, 128)  # inside the striped frame: include it too
    both = app.state.selection.copy()
    assert both[128, 420] and both[BALL_CLICK[1], BALL_CLICK[0]]
    click_canvas(app, 420, 128, button=3)  # exclude the same spot
    assert app.state.point_labels.tolist() == [1, 1, 0]
    assert not app.state.selection[128, 420]
    assert app.state.selection.sum() < both.sum()
    assert len(app.view.find_withtag("point")) == 3
    key(app, "<Escape>")
    assert app.state.selection is None and len(app.state.points) == 0
    assert not app.view.find_withtag("point")


def test_drag_box_then_enter_applies_a_box_for_a_box_class(app):
    key(app, "<Shift-A>")
    key(app, "<Key-2>")  # leaf: a bounding-box class; SAM mode stays on
    assert app.state.class_name == "leaf" and app.state.sam_mode
    drag_canvas(app, *LEAF_BOX)
    assert app.state.box is not None
    assert app.view.find_withtag("prompt-box")
    key(app, "<Return>")
    (label, colour), = app.state.labels
    assert isinstance(label.shape, Box) and label.class_name == "leaf" and colour == object_colour("#2ca02c", 1)
    assert mask_iou(shape_to_mask(label.shape, 360, 640), shape_to_mask(Box(*map(float, _gt_box(3))), 360, 640)) > 0.6
    assert app.view.find_withtag(f"object-{label.object_id}")
    assert app.state.selection is None


def test_a_dragged_box_is_recorded_and_drawn_at_the_pixel_edges_it_was_dragged_to(app):
    key(app, "<Shift-A>")
    key(app, "<Key-2>")
    view = app.view.viewport
    left, top = (int(v) for v in view.offset)  # the frame's top-left on the canvas
    press, release = (left + 140, top + 110), (left + 260, top + 205)  # canvas points on the frame
    app.view.event_generate("<ButtonPress-1>", x=press[0], y=press[1])
    app.view.event_generate("<Motion>", x=release[0], y=release[1], state=0x100)
    app.view.event_generate("<ButtonRelease-1>", x=release[0], y=release[1])
    app.wait_idle()
    x0, y0 = view.canvas_to_edge(*press)
    x1, y1 = view.canvas_to_edge(*release)
    assert app.state.box == pytest.approx((x0, y0, x1, y1))  # edges, not pixel centres
    drawn = app.view.coords(app.view.find_withtag("prompt-box")[0])
    assert drawn == pytest.approx([*press, *release], abs=1e-3)  # where the rubber band was


def _gt_box(object_id: int) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(gt(object_id))
    return (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_apply_button_makes_a_polygon_and_class_switch_keeps_sam(app):
    key(app, "<Shift-A>")
    key(app, "<Key-2>")
    key(app, "<Key-1>")
    assert app.state.class_name == "ball" and app.state.sam_mode
    click_canvas(app, *BALL_CLICK)
    app.sam_panel.apply_button.invoke()
    app.wait_idle()
    (label, _), = app.state.labels
    assert isinstance(label.shape, Polygon) and label.class_name == "ball"
    assert mask_iou(shape_to_mask(label.shape, 360, 640), headless_mask([BALL_CLICK], [True])) > 0.97


def test_point_class_has_no_sam(app):
    key(app, "<Key-3>")
    assert app.state.class_name == "marker"
    key(app, "<Shift-A>")
    assert not app.state.sam_mode
    assert "SAM works only with polygon and bounding-box classes" in app.status.get()
    assert not app.sam_panel.shown
    click_canvas(app, *BALL_CLICK)  # the point tool labels a keypoint (no SAM)
    assert app.state.selection is None
    (label, _), = app.state.labels
    assert label.class_name == "marker" and label.shape == Point(*app.view.viewport.canvas_to_frame(
        *(int(round(v)) for v in app.view.viewport.frame_to_canvas(*BALL_CLICK))))


def test_slider_changes_quality_and_resegments(app):
    key(app, "<Shift-A>")
    click_canvas(app, *BALL_CLICK)
    assert app.state.quality == pytest.approx(0.6)
    app.sam_panel.slider.set(20)
    pump(app.root, 0.3)
    app.wait_idle()
    assert app.editor.quality == pytest.approx(0.2)
    assert app.state.quality == pytest.approx(0.2)
    assert app.sam_panel.quality_name.get() == "Faster 20%"
    assert app.state.selection is not None and app.state.selection[BALL_CLICK[1], BALL_CLICK[0]]
    kinds = app.editor.log.kinds()
    assert kinds.count("quality") == 1


def test_frame_stepping_timeline_and_frame_box(app):
    key(app, "<Right>")
    key(app, "<Right>")
    assert app.state.frame_index == 2
    key(app, "<End>")
    assert app.state.frame_index == 47
    key(app, "<Home>")
    assert app.state.frame_index == 0
    app.controls.frame_box.focus_force()
    app.root.update()
    app.controls.frame_box.delete(0, "end")
    app.controls.frame_box.insert(0, "10")
    app.controls.frame_box.event_generate("<Return>")
    app.wait_idle()
    assert app.state.frame_index == 9
    width = app.timeline.winfo_width()
    app.timeline.event_generate("<ButtonPress-1>", x=width - 9, y=10)
    app.wait_idle()
    assert app.state.frame_index == 47


def test_wheel_zoom_keeps_the_point_under_the_pointer_and_clicks_still_map(app):
    view = app.view
    cx, cy = view.viewport.frame_to_canvas(*BALL_CLICK)
    view.event_generate("<Button-4>", x=int(cx), y=int(cy))
    view.event_generate("<Button-4>", x=int(cx), y=int(cy))
    app.root.update()
    assert view.viewport.scale > 1.3 * app.view.viewport.resized(view.viewport.canvas_size).scale
    x, y = view.viewport.canvas_to_frame(int(cx), int(cy))
    assert abs(x - BALL_CLICK[0]) < 1.5 and abs(y - BALL_CLICK[1]) < 1.5
    key(app, "<Shift-A>")
    click_canvas(app, *BALL_CLICK)
    px, py = app.state.points[0]
    assert abs(px - BALL_CLICK[0]) < 1 and abs(py - BALL_CLICK[1]) < 1


def test_real_x_input_with_xdotool(app):
    """Keyboard and mouse through the X server, as a person's input arrives."""
    focus_window(app)
    xdotool(app, "key", "--clearmodifiers", "shift+a")
    assert app.state.sam_mode
    cx, cy = app.view.viewport.frame_to_canvas(*BALL_CLICK)
    sx, sy = app.view.winfo_rootx() + int(cx), app.view.winfo_rooty() + int(cy)
    xdotool(app, "mousemove", "--sync", str(sx), str(sy), "click", "1")
    assert app.state.selection is not None and app.state.selection[BALL_CLICK[1], BALL_CLICK[0]]
    xdotool(app, "mousemove", "--sync", str(sx + 60), str(sy), "click", "3")
    assert app.state.point_labels.tolist() == [1, 0]
    xdotool(app, "key", "Return")
    assert len(app.state.labels) == 1 and app.state.selection is None


def test_labels_are_saved_on_every_change_and_reopen_as_they_were(screen, tmp_path, ontology_file):
    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file)
    apply_ball(app)
    key(app, "<Right>")
    key(app, "<Key-2>")
    drag_canvas(app, *LEAF_BOX)
    key(app, "<Return>")
    assert stored_labels(folder) == [(0, 1, "sam"), (1, 2, "sam")]  # no Save needed
    shapes = {(l.frame_index, l.object_id): l.shape for l in project.labels()}
    close_project_app(app, project)

    app, project = open_project_app(folder)
    try:
        assert app.state.frame_index == 0
        (label, colour), = app.state.labels
        assert label.object_id == 1 and colour == object_colour("#ff7f0e", 1)  # the class's hue, per object
        assert app.sidebar.objects.get_children() == ("1",)
        assert app.view.find_withtag("object-1")
        key(app, "<Right>")
        (label, _), = app.state.labels
        assert label.shape == shapes[(1, 2)]
        marks = app.state.marks
        assert marks[0] == marks[1] == 1 and not marks[2:].any()
        assert len(app.timeline.find_withtag("mark-1")) == 2
    finally:
        close_project_app(app, project)


def test_undo_redo_and_delete_from_the_objects_list(screen, tmp_path, ontology_file):
    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file)
    try:
        apply_ball(app)
        click_canvas(app, 420, 128)
        key(app, "<Return>")
        assert [l.object_id for l, _ in app.state.labels] == [1, 2]
        key(app, "<Control-z>")
        assert [l.object_id for l, _ in app.state.labels] == [1]
        assert stored_labels(folder) == [(0, 1, "sam")]
        key(app, "<Control-Shift-Z>")
        assert [l.object_id for l, _ in app.state.labels] == [1, 2]
        app.sidebar.objects.selection_set("1")
        app.sidebar.delete()  # asks: this frame, or every frame
        app.object_dialog.this_frame.invoke()
        app.wait_idle()
        assert [l.object_id for l, _ in app.state.labels] == [2]
        assert stored_labels(folder) == [(0, 2, "sam")]
        key(app, "<Control-z>")
        assert stored_labels(folder) == [(0, 1, "sam"), (0, 2, "sam")]
    finally:
        close_project_app(app, project)


def test_export_menu_writes_coco(screen, tmp_path, ontology_file):
    import json

    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file)
    try:
        apply_ball(app)
        app.export("coco", str(tmp_path / "coco"))
        app.wait_idle()
        files = list((tmp_path / "coco").rglob("*.json"))
        assert len(files) == 1
        data = json.loads(files[0].read_text())
        assert [a["track_id"] for a in data["annotations"]] == [1]
        assert "exported coco" in app.status.get()
    finally:
        close_project_app(app, project)


def test_permanent_drawing_propagates_with_progress_and_marks(screen, tmp_path, short_clip, ontology_file):
    app, project = open_project_app(tmp_path / "project", ontology_file, short_clip)
    root, editor = app.root, app.editor
    try:
        app.controls.permanent_button.invoke()  # the real checkbutton: toggles and calls back
        app.wait_idle()
        assert app.state.permanent and app.editor.permanent and app.controls.permanent.get()
        apply_ball(app)
        pump(root, 0.3)
        labels = project.labels()
        assert sorted(l.frame_index for l in labels if l.object_id == 1) == list(range(6))
        assert {l.source for l in labels if l.frame_index > 0} == {"propagated"}
        assert app.state.marks.tolist() == [1, 2, 2, 2, 2, 2]
        assert len(app.timeline.find_withtag("mark-2")) == 5
        assert float(app.controls.progress.cget("value")) == float(app.controls.progress.cget("maximum")) == 5
        assert "propagated" in app.controls.progress_text.get()
        assert "propagate" in [e.kind for e in project.events()]
        key(app, "<Control-z>")  # the whole propagation run is one step for the person
        assert sorted(l.frame_index for l in project.labels()) == [0]
        assert app.state.marks.tolist() == [1, 0, 0, 0, 0, 0]
        key(app, "<Control-Shift-Z>")
        assert sorted(l.frame_index for l in project.labels()) == list(range(6))
        key(app, "<Control-z>")
        key(app, "<Control-z>")  # then the apply itself
        assert project.labels() == []
    finally:
        close_project_app(app, project)


def test_stop_cancels_a_running_propagation(screen, tmp_path, short_clip, ontology_file):
    app, project = open_project_app(tmp_path / "project", ontology_file, short_clip)
    root, editor = app.root, app.editor
    try:
        apply_ball(app)
        started = []
        real = editor.on_progress

        def slow_progress(progress):  # on the run's thread: give the person time to react
            real(progress)
            started.append(progress.frame_index)
            import time

            time.sleep(0.3)

        editor.on_progress = slow_progress
        app.propagate(1)  # in the background
        while app.propagation.busy or app.worker.busy:
            root.update()
            if started and str(app.controls.stop_button.cget("state")) == "normal":
                app.controls.stop_button.invoke()  # the person presses Stop
                break
        app.wait_idle()
        assert app.error is None
        frames = sorted(l.frame_index for l in project.labels())
        assert frames[0] == 0 and 1 <= len(frames) - 1 < 5  # stopped before the end
        event = [e for e in project.events() if e.kind == "propagate"][-1]
        assert event.data["until"] == frames[-1]
    finally:
        close_project_app(app, project)


def test_n_jumps_to_frames_flagged_for_review(app):
    from dataclasses import replace

    apply_ball(app)
    (label, _), = app.state.labels
    for frame_index in (7, 20):  # what a propagation that lost the object writes
        flag = replace(label, frame_index=frame_index, source="propagated", confirmed=False, review=True, score=0.0)
        app.worker.call_sync(lambda f=flag: app.editor.store.put(f))
    app.refresh_marks()  # written behind the Editor's back: no event says which frames changed
    key(app, "<Right>")
    assert app.state.marks[7] == app.state.marks[20] == 3
    assert len(app.timeline.find_withtag("mark-3")) == 2
    key(app, "<n>")
    assert app.state.frame_index == 7
    key(app, "<n>")
    assert app.state.frame_index == 20
    key(app, "<Shift-N>")
    assert app.state.frame_index == 7
    (shown, _), = app.state.labels
    assert shown.review and "⚑" in app.sidebar.objects.item("1", "text")


def test_full_disk_on_apply_shows_a_dialog_and_loses_nothing(screen, tmp_path, ontology_file):
    from engine.errors import ProjectError

    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file)
    try:
        key(app, "<Shift-A>")
        click_canvas(app, *BALL_CLICK)
        real_put = project.put

        def full_disk(*args, **kwargs):
            raise ProjectError(f"{folder / 'project.sqlite'}: cannot save: database or disk is full")

        project.put = full_disk
        key(app, "<Return>")
        assert app.dialog is not None and "disk is full" in app.dialog.text
        assert app.dialog.winfo_viewable()
        assert stored_labels(folder) == []
        assert app.state.selection is not None and len(app.state.points) == 1  # the work is still there
        app.dialog.ok.invoke()
        project.put = real_put  # space freed: the same Enter now saves
        key(app, "<Return>")
        assert stored_labels(folder) == [(0, 1, "sam")]
    finally:
        close_project_app(app, project)


def test_opening_corrupt_media_shows_a_dialog_and_keeps_the_current_one(screen, tmp_path, ontology_file):
    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file)
    try:
        broken = tmp_path / "broken.mp4"
        broken.write_bytes((SAMPLES / "video.mp4").read_bytes()[:3000])
        app.open_media(str(broken))
        app.wait_idle()
        assert app.dialog is not None and "broken.mp4" in app.dialog.text
        assert app.editor.media_name.endswith("video.mp4")
        key(app, "<Shift-A>")
        click_canvas(app, *BALL_CLICK)  # still usable
        assert app.state.selection is not None
    finally:
        close_project_app(app, project)


def test_annotate_with_bad_media_shows_the_reason_and_exits(screen, tmp_path):
    import shutil
    import subprocess
    import sys

    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (`make test` installs it with apt-get)")
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"not a video at all")
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "annotate", str(bad), "--project", str(tmp_path / "p")],
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "DISPLAY": screen.display},
    )
    found = subprocess.run(
        ["xdotool", "search", "--sync", "--name", "framewise: error"], capture_output=True, text=True, timeout=60
    )
    window = found.stdout.split()[0]
    subprocess.run(["xdotool", "windowfocus", "--sync", window], timeout=20)  # no window manager here
    subprocess.run(["xdotool", "key", "Return"], timeout=20)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert stderr.startswith("framewise: error:") and "clip.mp4" in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_a_ui_session_replays_headless_to_identical_labels(screen, tmp_path, ontology_file):
    from engine.cli.main import main as cli
    from engine.project import Project
    from engine.types import shape_to_json

    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file)
    try:
        key(app, "<Shift-A>")
        click_canvas(app, *BALL_CLICK)
        click_canvas(app, 60, 150, button=3)
        key(app, "<Return>")
        key(app, "<Right>")
        key(app, "<Key-2>")
        drag_canvas(app, *LEAF_BOX)
        key(app, "<Tab>")
        key(app, "<Return>")
        app.sam_panel.slider.set(100)
        pump(app.root, 0.3)
        app.wait_idle()
        click_canvas(app, 420, 128)
        key(app, "<Escape>")
        key(app, "<Key-1>")
        click_canvas(app, 420, 128)
        key(app, "<Return>")
        key(app, "<Control-z>")
        key(app, "<Control-Shift-Z>")
        recorded = [(l.frame_index, l.object_id, l.class_name, shape_to_json(l.shape, decimals=None)) for l in project.labels()]
    finally:
        close_project_app(app, project)
    assert len(recorded) == 3
    session = tmp_path / "session.json"
    assert cli(["session", "export", str(folder), "--out", str(session)]) == 0
    assert cli(["replay", str(session), str(SAMPLES / "video.mp4"), "--project", str(tmp_path / "again")]) == 0
    with Project.open(tmp_path / "again") as again:
        replayed = [(l.frame_index, l.object_id, l.class_name, shape_to_json(l.shape, decimals=None)) for l in again.labels()]
    assert replayed == recorded  # polygons vertex for vertex, boxes exactly


def test_rename_and_change_class_of_an_object(screen, tmp_path, ontology_file):
    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file)
    try:
        apply_ball(app)
        app.rename_object(1, "red ball")
        app.wait_idle()
        assert project.object(app.editor.media_name, 1).name == "red ball"
        app.change_class(1, "leaf")  # a box class: refused, the label keeps its class
        app.wait_idle()
        assert "takes bounding_box shapes" in app.status.get()
        assert app.state.labels[0][0].class_name == "ball"
        key(app, "<Control-z>")
        assert project.object(app.editor.media_name, 1).name is None
        assert [e.kind for e in project.events()][-2:] == ["rename", "undo"]
    finally:
        close_project_app(app, project)


def test_the_console_script_has_annotate_and_every_engine_command(capsys):
    from ui.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("annotate", "segment", "eval", "export", "import", "session", "replay", "prelabel", "demo"):
        assert f"    {command}" in text, command
