"""The track panel's runs and the per-object colours, without a window; and, in the real
window, the track panel lined up with the timeline above it."""

from __future__ import annotations

from tests.ui.gui import apply_ball, focus_window, pump, xdotool
from ui.colours import object_colour, object_title
from ui.playback import play_delay
from ui.review import keyframes_around
from ui.track_panel import row_segments, track_runs


def test_a_long_track_is_a_few_runs_not_one_item_per_frame():
    rows = [(1, f, "sam" if f in (0, 9999) else "propagated", f == 500) for f in range(10_000)]
    rows += [(2, f, "interpolated", False) for f in range(100, 200)] + [(2, 300, "manual", False)]
    runs = track_runs(rows)
    assert runs[1] == [(0, 0, "confirmed"), (1, 499, "propagated"), (500, 500, "flagged"),
                       (501, 9998, "propagated"), (9999, 9999, "confirmed")]
    assert runs[2] == [(100, 199, "interpolated"), (300, 300, "confirmed")]


def test_objects_of_one_class_get_distinct_colours_near_it():
    colours = {object_colour("#ff7f0e", k) for k in range(1, 9)}
    assert len(colours) == 8 and all(c.startswith("#") and len(c) == 7 for c in colours)
    assert object_colour("#ff7f0e", 3) == object_colour("#ff7f0e", 3)
    assert object_colour("not a colour", 1).startswith("#")
    assert object_title(3, "Lisa") == "#3 Lisa" and object_title(3, None) == "#3"


def test_keyframes_around_and_play_delay():
    class L:
        def __init__(self, frame, confirmed):
            self.frame_index, self.confirmed = frame, confirmed

    labels = [L(0, True), L(3, False), L(8, True), L(12, True)]
    assert keyframes_around(labels, 3) == (0, 8)
    assert keyframes_around(labels, 8) == (8, 12)
    assert keyframes_around(labels, 12) == (8, 12)
    assert keyframes_around(labels[:1], 0) is None
    assert play_delay(25, 1.0) == 40 and play_delay(25, 0.25) == 160 and play_delay(25, 4.0) == 15


def test_a_row_never_draws_more_segments_than_pixels_and_flags_stay_visible():
    # alternating kinds on every frame of a 10,000-frame track, drawn 800 px wide
    runs = [(f, f, "flagged" if f % 50 == 0 else "propagated") for f in range(10_000)]
    segments = row_segments(runs, 10_000, 800)
    assert len(segments) <= 800
    assert {segment[2] for segment in segments} == {"flagged", "propagated"}
    assert segments[0][0] == 0 and segments[-1][1] == 800  # the whole row is covered
    assert all(a[1] == b[0] for a, b in zip(segments, segments[1:]))  # no gaps, no overlaps
    # a short clip: one segment per run, with its frames
    short = row_segments([(0, 0, "confirmed"), (1, 5, "propagated")], 6, 600)
    assert [(kind, first, last) for _, _, kind, first, last in short] == [("confirmed", 0, 0), ("propagated", 1, 5)]


def cursor_x(canvas, tag: str) -> float:
    """Screen x of the vertical line tagged ``tag`` on ``canvas``."""
    lines = [item for item in canvas.find_withtag(tag) if canvas.type(item) == "line"]
    assert len(lines) == 1
    x0, _, x1, _ = canvas.coords(lines[0])
    assert x0 == x1
    return canvas.winfo_rootx() + x0


def test_the_track_panel_cursor_is_under_the_timeline_cursor_and_both_seek_alike(app):
    apply_ball(app)  # object 1: a row in the track panel
    focus_window(app)
    timeline, rows = app.timeline, app.tracks.canvas
    assert list(app.tracks.tracks) == [1]
    assert abs(timeline.winfo_width() - rows.winfo_width()) <= 1  # one column, one width
    seen = []
    for frame in (0, 1, 7, 24, 46, 47):
        app.goto(frame)
        app.wait_idle()
        pump(app.root, 0.05)
        assert app.state.frame_index == frame
        x = cursor_x(timeline, "cursor")
        assert abs(x - cursor_x(rows, "track-cursor")) <= 1, frame
        seen.append(x)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)  # the cursor moves right, frame by frame
    # a real click at one screen x, on the timeline and then on the object's row: one frame
    row_y = rows.winfo_rooty() + 8
    timeline_y = timeline.winfo_rooty() + timeline.winfo_height() // 2
    for x in (int(seen[1]), int(seen[2]) + 3, int(seen[3]), int(seen[4]) - 2):
        frames = []
        for y in (timeline_y, row_y):
            app.goto(30 if frames else 12)
            app.wait_idle()
            before = app.state.frame_index
            xdotool(app, "mousemove", "--sync", str(x), str(y), "click", "1")
            assert app.state.frame_index != before
            frames.append(app.state.frame_index)
        assert frames[0] == frames[1], (x, frames)
    # the frames under the clicks are the ones whose cursors were at those x
    xdotool(app, "mousemove", "--sync", str(int(seen[3])), str(row_y), "click", "1")
    assert app.state.frame_index == 24
