"""Editing what was applied and seeing the whole video, on the real window with real X
input (xdotool): delete on every frame, per-object colours and names, the class list,
the track panel, review (accept, outside) and interpolation."""

from __future__ import annotations

import json
from pathlib import Path

from engine.ontology import Ontology
from engine.types import Box, Label, LabelClass
from tests.ui.gui import apply_ball, click_canvas, close_project_app, key, open_project_app, pump, xdotool
from ui.colours import object_colour


def click_widget(app, widget, x: int | None = None, y: int | None = None) -> None:
    """A real click (xdotool) at (x, y) inside ``widget`` (default: its centre)."""
    widget.update_idletasks()
    x = widget.winfo_width() // 2 if x is None else x
    y = widget.winfo_height() // 2 if y is None else y
    xdotool(app, "mousemove", "--sync", str(widget.winfo_rootx() + x), str(widget.winfo_rooty() + y), "click", "1")


def select_object(app, object_id: int) -> None:
    """Click the object's row in the objects list."""
    tree = app.sidebar.objects
    x, y, width, height = tree.bbox(str(object_id))
    click_widget(app, tree, x + width // 2, y + height // 2)
    assert app.sidebar.selected_object() == object_id


def two_polygon_classes(tmp_path: Path) -> Path:
    path = tmp_path / "ontology.json"
    classes = [LabelClass("ball", "polygon", "#ff7f0e", "1"), LabelClass("stone", "polygon", "#8c564b", "2"),
               LabelClass("leaf", "bounding_box", "#2ca02c", "3")]
    path.write_text(json.dumps(Ontology(classes).to_json()))
    return path


def outline(app, object_id: int) -> str:
    items = app.view.find_withtag(f"object-{object_id}")
    return app.view.itemcget(items[0], "outline")


def tag_texts(app) -> list[str]:
    return sorted(app.view.itemcget(item, "text") for item in app.view.find_withtag("label-tag"))


def test_delete_key_deletes_an_object_on_every_frame_after_asking(screen, tmp_path, short_clip):
    folder = tmp_path / "project"
    app, project = open_project_app(folder, two_polygon_classes(tmp_path), short_clip)
    try:
        click_widget(app, app.controls.permanent_button)
        assert app.state.permanent
        apply_ball(app)  # object 1, propagated to frames 1..5
        click_canvas(app, 420, 128)
        key(app, "<Return>")  # object 2, the same class, propagated too
        pump(app.root, 0.3)
        app.wait_idle()
        media = app.editor.media_name
        assert sorted(lab.frame_index for lab in project.labels(media) if lab.object_id == 1) == list(range(6))
        # two objects of one class: two colours near the class's, each with its id on the canvas
        assert outline(app, 1) == object_colour("#ff7f0e", 1) != outline(app, 2) == object_colour("#ff7f0e", 2)
        assert tag_texts(app) == ["#1", "#2"]
        # the track panel: a row per object, the propagated frames as one run each
        canvas = app.tracks.canvas
        assert len(canvas.find_withtag("track-run")) == 4
        assert set(canvas.gettags(canvas.find_withtag("track-1")[-1])) >= {"kind-propagated", "frames-1-5"}
        key(app, "<Delete>")  # two objects and none selected: it says so
        assert "select an object" in app.status.get()
        select_object(app, 1)
        xdotool(app, "key", "Delete")
        dialog = app.object_dialog
        assert dialog.winfo_exists() and "every frame" in dialog.children["!frame"].winfo_children()[0].cget("text")
        click_widget(app, dialog.all_frames)
        app.wait_idle()
        assert not dialog.winfo_exists()
        assert [lab.object_id for lab in project.labels(media)] == [2] * 6
        assert [e.kind for e in project.events()][-1] == "delete_object"
        assert "deleted object #1 on 6 frames" in app.status.get()
        assert [app.view.itemcget(i, "text") for i in app.view.find_withtag("label-tag")] == ["#2"]
        assert canvas.find_withtag("track-1") == () and len(canvas.find_withtag("track-2")) == 3
        key(app, "<Control-z>")  # one undo step brings back all six frames
        assert sorted(lab.frame_index for lab in project.labels(media) if lab.object_id == 1) == list(range(6))
    finally:
        close_project_app(app, project)


def test_rename_shows_on_the_canvas_and_the_class_comes_from_a_list(screen, tmp_path):
    folder = tmp_path / "project"
    app, project = open_project_app(folder, two_polygon_classes(tmp_path))
    try:
        apply_ball(app)
        media = app.editor.media_name
        select_object(app, 1)
        rename = next(w for w in app.sidebar.winfo_children()[-2].winfo_children() if w.cget("text") == "Rename")
        click_widget(app, rename)
        dialog = app.object_dialog
        xdotool(app, "search", "--sync", "--name", "Rename object", "windowfocus", "--sync", "%1")
        pump(app.root, 0.2)
        assert dialog.focus_get() is dialog.entry
        xdotool(app, "type", "--delay", "40", "Lisa")
        xdotool(app, "key", "Return")
        assert project.object(media, 1).name == "Lisa"
        assert tag_texts(app) == ["#1 Lisa"]
        assert app.view.itemcget(app.view.find_withtag("label-tag")[0], "fill") == object_colour("#ff7f0e", 1)
        assert not app.state.sam_mode or app.state.labels  # Enter in the dialog applied nothing
        classes = next(w for w in app.sidebar.winfo_children()[-2].winfo_children() if w.cget("text") == "Class")
        select_object(app, 1)
        click_widget(app, classes)
        dialog = app.object_dialog
        assert dialog.listbox.get(0, "end") == ("ball", "stone")  # the polygon classes only
        x, y, width, height = dialog.listbox.bbox(1)
        click_widget(app, dialog.listbox, x + 10, y + height // 2)
        xdotool(app, "key", "Return")
        assert project.object(media, 1).class_name == "stone"
        assert outline(app, 1) == object_colour("#8c564b", 1)
        assert [e.kind for e in project.events()][-2:] == ["rename", "relabel"]
    finally:
        close_project_app(app, project)


def put_track(app, flagged: int | None = None) -> None:
    """Object 1: confirmed boxes on frames 0 and 5, propagated between (flag on ``flagged``)."""
    media = app.editor.media_name
    for frame in range(6):
        confirmed = frame in (0, 5)
        label = Label(1, frame, "leaf", Box(40 + 4 * frame, 40, 120 + 4 * frame, 120),
                      "sam" if confirmed else "propagated", confirmed=confirmed, review=frame == flagged, media=media)
        app.worker.call_sync(lambda item=label: app.editor.store.put(item))
    app.refresh_marks()  # written behind the Editor's back
    app.wait_idle()


def test_review_accept_and_outside_from_a_flagged_frame(screen, tmp_path, short_clip, ontology_file):
    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file, short_clip)
    try:
        put_track(app, flagged=2)
        canvas = app.tracks.canvas
        assert len(canvas.find_withtag("kind-flagged")) == 1
        # a click on the flagged cell of the object's row jumps there
        canvas.update_idletasks()
        x = int(app.tracks._x(2.5))
        click_widget(app, canvas, x, 8)
        assert app.state.frame_index == 2
        review = app.sidebar.review
        click_widget(app, review.accept_button)  # one object on the frame: no need to select it
        media = app.editor.media_name
        assert not project.labels(media, 2)[0].review
        assert canvas.find_withtag("kind-flagged") == ()
        assert [e.kind for e in project.events()][-1] == "review"
        key(app, "<Right>")
        click_widget(app, review.outside_button)
        assert sorted(lab.frame_index for lab in project.labels(media)) == [0, 1, 2, 5]
        event = project.events()[-1]
        assert (event.kind, event.frame_index, event.data["action"]) == ("review", 3, "outside")
        assert app.state.labels == [] and len(canvas.find_withtag("track-run")) == 3
        key(app, "<Control-z>")
        assert sorted(lab.frame_index for lab in project.labels(media)) == list(range(6))
    finally:
        close_project_app(app, project)


def test_interpolate_between_keyframes_from_the_objects_list(screen, tmp_path, short_clip, ontology_file):
    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file, short_clip)
    try:
        put_track(app)
        media = app.editor.media_name
        for frame in range(1, 5):  # only the keyframes: the frames between are to be filled
            app.worker.call_sync(lambda f=frame: app.editor.store.delete(media, f, 1))
        app.refresh_marks()
        key(app, "<Right>")
        key(app, "<Right>")
        click_widget(app, app.sidebar.review.interpolate_button)
        assert "select an object" in app.status.get()  # no label of it on this frame
        key(app, "<Home>")
        click_widget(app, app.sidebar.review.interpolate_button)
        labels = {lab.frame_index: lab for lab in project.labels(media)}
        assert sorted(labels) == list(range(6))
        assert {labels[f].source for f in range(1, 5)} == {"interpolated"}
        assert labels[2].shape.x0 == 48
        assert "between frames 1 and 6" in app.status.get()
        run = app.tracks.canvas.find_withtag("kind-interpolated")
        assert len(run) == 1 and "frames-1-4" in app.tracks.canvas.gettags(run[0])
    finally:
        close_project_app(app, project)


def test_playback_speed_and_the_project_media_list(screen, tmp_path, short_clip, ontology_file):
    from tests.ui.gui import SAMPLES
    from ui.playback import play_delay

    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file, short_clip)
    try:
        playback = app.controls.playback
        assert not playback.media_box.winfo_ismapped()  # one media: no list
        click_widget(app, playback.speed_box)
        xdotool(app, "key", "--delay", "80", "Down", "Down", "Return")
        assert playback.speed == 4.0 and playback.speed_box.get() == "4×"
        assert play_delay(app.state.fps, playback.speed) < play_delay(app.state.fps, 1.0)
        key(app, "<p>")
        pump(app.root, 0.6)
        app.wait_idle()
        assert app.state.frame_index == 5 and not app._playing  # played to the end and stopped
        first = app.editor.media_name
        app.open_media(str(SAMPLES / "video.mp4"))  # as File → Open media… does
        app.wait_idle()
        app.wait_idle()
        assert playback.media_box.winfo_ismapped() and len(playback.media_box.cget("values")) == 2
        assert playback.media_box.get() == "video.mp4"
        click_widget(app, playback.media_box)
        xdotool(app, "key", "--delay", "80", "Up", "Return")
        app.wait_idle()
        assert app.editor.media_name == first and app.state.frame_count == 6
        assert app.root.title().endswith(first)
        assert [e.kind for e in project.events()][-1] in ("open", "goto")
    finally:
        close_project_app(app, project)
