"""What the window does with damaged media and hostile export folders (issue #17): the
same guarantees as the command line, shown to the person at the screen."""

from __future__ import annotations

import os

from tests.media.test_media_damage import small_video
from tests.ui.gui import apply_ball, close_project_app, open_project_app


def test_a_video_cut_near_its_end_says_so_above_the_status_line(screen, tmp_path, ontology_file):
    whole = small_video(tmp_path / "whole.mkv", frames=48, rate=24)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.95)])
    app, project = open_project_app(tmp_path / "project", ontology_file, cut)
    try:
        app.root.update()
        notice = str(app.notice.cget("text"))
        assert notice.startswith("⚠ file looks truncated: declares 2.00 s / 48 frames, only "), notice
        assert str(cut) not in notice  # the path is in the title bar, not repeated
        assert app.notice.winfo_ismapped() and app.notice.winfo_height() > 1
        # shown between the frame area and the status line
        assert app.view.winfo_rooty() < app.notice.winfo_rooty() < app.status_bar.winfo_rooty()
        assert app.state.frame_count < 48
    finally:
        close_project_app(app, project)
    app, project = open_project_app(tmp_path / "project2", ontology_file, whole)
    try:
        app.root.update()
        assert not app.notice.winfo_ismapped() and app.state.frame_count == 48
    finally:
        close_project_app(app, project)


def test_export_from_the_menu_never_writes_through_a_link_below_the_folder(screen, tmp_path, ontology_file):
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(outside, out / "labels")  # YOLO writes labels/<media>/…
    app, project = open_project_app(tmp_path / "project", ontology_file)
    try:
        apply_ball(app)
        app.export("yolo", str(out))
        app.wait_idle()
        assert list(outside.iterdir()) == []  # nothing written through the link
        assert sorted(p.name for p in out.iterdir()) == ["labels"]  # no staging folder, no half export
        assert app.dialog is not None and "is a symbolic link" in app.error
        assert app.status.get().startswith("error: ")
        os.unlink(out / "labels")
        app.export("yolo", str(out))
        app.wait_idle()
        assert "exported yolo: " in app.status.get() and (out / "data.yaml").is_file()
        assert any((out / "labels").rglob("*.txt"))
    finally:
        close_project_app(app, project)
