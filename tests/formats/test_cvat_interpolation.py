"""CVAT for video import shows what CVAT shows: track interpolation (boxes linear, polygons
by CVAT's arc-length matching), outside runs, the last keyframe held, task and job exports.

The files are shaped as CVAT 2.x writes them (cvat/apps/dataset_manager/bindings.py
``TaskData.meta_for_task`` / ``JobData._init_meta``, formats/cvat.py
``dump_as_cvat_interpolation``); the expected shapes are worked out by hand from CVAT's
``TrackManager.get_interpolated_shapes`` (cvat/apps/dataset_manager/annotation.py).
"""

import numpy as np
import pytest

from engine.errors import SessionFormatError
from engine.formats.cvat_import import import_cvat_video
from engine.formats.cvat_interpolate import (
    InterpolationError,
    TrackShape,
    interpolate_polyshape,
    interpolated_shapes,
)
from engine.formats.shapes import full_mask
from engine.types import Box

LABELS = """      <labels>
        <label>
          <name>car</name>
          <color>#fa3253</color>
          <type>bbox</type>
          <attributes>
            <attribute>
              <name>parked</name>
              <mutable>True</mutable>
              <input_type>checkbox</input_type>
              <default_value>false</default_value>
              <values>false
true</values>
            </attribute>
          </attributes>
        </label>
        <label>
          <name>person</name>
          <color>#33ddff</color>
          <type>polygon</type>
          <attributes>
          </attributes>
        </label>
        <label>
          <name>road</name>
          <color>#b83df5</color>
          <type>mask</type>
          <attributes>
          </attributes>
        </label>
      </labels>
"""


def task_file(tracks: str, *, size=15, start=0, stop=None, frame_filter="") -> str:
    stop = start + size - 1 if stop is None else stop
    return f"""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>12</id>
      <name>street</name>
      <size>{size}</size>
      <mode>interpolation</mode>
      <overlap>5</overlap>
      <bugtracker></bugtracker>
      <created>2024-05-02 09:12:33.408127+00:00</created>
      <updated>2024-05-02 09:40:01.118290+00:00</updated>
      <subset>default</subset>
      <start_frame>{start}</start_frame>
      <stop_frame>{stop}</stop_frame>
      <frame_filter>{frame_filter}</frame_filter>
      <segments>
        <segment>
          <id>21</id>
          <start>0</start>
          <stop>{size - 1}</stop>
          <url>http://localhost:8080/api/jobs/31</url>
        </segment>
      </segments>
      <owner>
        <username>admin</username>
        <email>admin@example.com</email>
      </owner>
      <assignee></assignee>
{LABELS}      <original_size>
        <width>640</width>
        <height>480</height>
      </original_size>
      <source>street.mp4</source>
    </task>
    <dumped>2024-05-02 09:41:00.000000+00:00</dumped>
  </meta>
{tracks}
</annotations>
"""


def job_file(tracks: str) -> str:
    """A job of segment 10..19 of a 30-frame task: <job> without name or source, and
    original_size beside it in <meta>."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <job>
      <id>7</id>
      <size>10</size>
      <mode>interpolation</mode>
      <overlap>0</overlap>
      <bugtracker></bugtracker>
      <created>2024-05-02 09:12:33.408127+00:00</created>
      <updated>2024-05-02 09:45:12.500000+00:00</updated>
      <subset>default</subset>
      <start_frame>10</start_frame>
      <stop_frame>19</stop_frame>
      <frame_filter></frame_filter>
      <segments>
        <segment>
          <id>4</id>
          <start>10</start>
          <stop>19</stop>
          <url>http://localhost:8080/api/jobs/7</url>
        </segment>
      </segments>
      <owner>
        <username>admin</username>
        <email>admin@example.com</email>
      </owner>
      <assignee></assignee>
{LABELS}    </job>
    <dumped>2024-05-02 09:46:00.000000+00:00</dumped>
    <original_size>
      <width>640</width>
      <height>480</height>
    </original_size>
  </meta>
{tracks}
</annotations>
"""


def box(frame, xyxy, *, keyframe=1, outside=0, occluded=0, z_order=0, parked="false"):
    x0, y0, x1, y1 = xyxy
    return (f'    <box frame="{frame}" keyframe="{keyframe}" outside="{outside}" occluded="{occluded}" '
            f'xtl="{x0:.2f}" ytl="{y0:.2f}" xbr="{x1:.2f}" ybr="{y1:.2f}" z_order="{z_order}">\n'
            f'      <attribute name="parked">{parked}</attribute>\n    </box>')


def polygon(frame, points, *, keyframe=1, outside=0, offset=(0, 0)):
    text = ";".join(f"{x + offset[0]:.2f},{y + offset[1]:.2f}" for x, y in points)
    return (f'    <polygon frame="{frame}" keyframe="{keyframe}" outside="{outside}" occluded="0" '
            f'points="{text}" z_order="0">\n    </polygon>')


def track(track_id, label, *shapes):
    return f'  <track id="{track_id}" label="{label}" source="manual">\n' + "\n".join(shapes) + "\n  </track>"


def _load(tmp_path, text, name="annotations.xml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return import_cvat_video(path)


def _by_frame(dataset, object_id):
    return {l.frame_index: l for l in dataset.labels if l.object_id == object_id}


CAR = track(0, "car", box(0, (10, 20, 30, 40)), box(10, (20, 40, 50, 80), parked="true"))


def test_sparse_box_keyframes_show_every_frame_as_cvat_does(tmp_path):
    dataset = _load(tmp_path, task_file(CAR))
    (info,) = dataset.media
    assert (info.name, info.frames) == ("street.mp4", 15)
    car = _by_frame(dataset, 1)
    assert sorted(car) == list(range(15))  # keyframes 0 and 10, 1..9 between, 11..14 held
    assert car[5].shape == Box(15.0, 30.0, 40.0, 60.0)
    np.testing.assert_allclose(car[3].shape.as_list(), [13.0, 26.0, 36.0, 52.0], atol=1e-12)
    assert all(car[f].shape == Box(20.0, 40.0, 50.0, 80.0) for f in range(10, 15))
    for frame, label in car.items():
        keyframe = frame in (0, 10)
        assert (label.source, label.confirmed) == (("manual", True) if keyframe else ("interpolated", False))
    # an interpolated frame is a copy of the keyframe before it, attributes included
    assert [car[f].attributes["parked"] for f in (0, 9, 10, 14)] == ["false", "false", "true", "true"]


def test_the_interpolated_frames_cvat_wrote_are_derived_again(tmp_path):
    written = [box(0, (10, 20, 30, 40))]
    written += [box(f, (10 + f, 20 + 2 * f, 30 + 2 * f, 40 + 4 * f), keyframe=0) for f in range(1, 10)]
    written += [box(10, (20, 40, 50, 80), parked="true")]
    written += [box(f, (20, 40, 50, 80), keyframe=0, parked="true") for f in range(11, 15)]
    full = _load(tmp_path, task_file(track(0, "car", *written)), "full.xml")
    sparse = _load(tmp_path, task_file(CAR), "sparse.xml")
    assert [(l.frame_index, l.shape, l.source) for l in full.labels] == [
        (l.frame_index, l.shape, l.source) for l in sparse.labels]


SQUARE = [(0, 0), (10, 0), (10, 10), (0, 10)]
WIDE = [(0, 0), (10, 0), (20, 0), (20, 20), (0, 20)]  # twice the square, a point in the top edge


def test_polygons_follow_cvats_arc_length_matching_and_outside_ends_a_run(tmp_path):
    person = track(
        1, "person",
        polygon(2, SQUARE, offset=(100, 100)),
        polygon(6, WIDE, offset=(100, 100)),
        polygon(8, WIDE, offset=(100, 100), outside=1),
        polygon(11, SQUARE, offset=(300, 300)),
    )
    labels = _by_frame(_load(tmp_path, task_file(person)), 2)
    assert sorted(labels) == [2, 3, 4, 5, 6, 7, 11, 12, 13, 14]  # 8..10: outside
    expected = {  # by hand: the wide shape's extra point (offset 0.125) pairs with the first corner
        3: [(0, 0), (2.5, 0), (12.5, 0), (12.5, 12.5), (0, 12.5)],
        4: [(0, 0), (5, 0), (15, 0), (15, 15), (0, 15)],
        5: [(0, 0), (7.5, 0), (17.5, 0), (17.5, 17.5), (0, 17.5)],
        7: WIDE,  # towards the outside keyframe, which holds the same shape
    }
    for frame, points in expected.items():
        np.testing.assert_allclose(labels[frame].shape.parts[0][0], np.array(points) + 100, atol=1e-9)
        assert (labels[frame].source, labels[frame].confirmed) == ("interpolated", False)
    for frame in (12, 13, 14):
        np.testing.assert_allclose(labels[frame].shape.parts[0][0], np.array(SQUARE) + 300, atol=1e-12)


def test_crowded_points_are_thinned_and_averaged_as_cvat_does(tmp_path):
    notched = [(0, 0), (5, 0), (10, 0), (10, 10), (0, 10)]
    person = track(0, "person", polygon(0, notched, offset=(200, 200)), polygon(10, SQUARE, offset=(200, 200)))
    labels = _by_frame(_load(tmp_path, task_file(person)), 1)
    # t = 0.5: (5,0) -> (0,0) halfway, 2.5 px from the corner: kept (threshold 5 / (2*2))
    np.testing.assert_allclose(labels[5].shape.parts[0][0],
                               np.array([(0, 0), (2.5, 0), (10, 0), (10, 10), (0, 10)]) + 200, atol=1e-9)
    # t = 0.9: 0.5 px from the corner, under the threshold: the two become their mean
    np.testing.assert_allclose(labels[9].shape.parts[0][0],
                               np.array([(0.25, 0), (10, 0), (10, 10), (0, 10)]) + 200, atol=1e-9)


def test_the_polyshape_port_on_flat_lists():
    closed_square = [0, 0, 10, 0, 10, 10, 0, 10, 0, 0]
    closed_wide = [0, 0, 10, 0, 20, 0, 20, 20, 0, 20, 0, 0]
    assert interpolate_polyshape(closed_square, closed_wide, 0.5) == [0, 0, 5, 0, 15, 0, 15, 15, 0, 15, 0, 0]
    keyframes = [TrackShape(0, "rectangle", [0, 0, 10, 10]), TrackShape(4, "rectangle", [4, 4, 14, 14], outside=True)]
    shown = interpolated_shapes(keyframes, end=10)
    assert [(s.frame, s.keyframe, s.outside) for s in shown] == [
        (0, True, False), (1, False, False), (2, False, False), (3, False, False), (4, True, True)]
    assert keyframes[1].attributes == {} and shown[2].points == [2, 2, 12, 12]
    with pytest.raises(InterpolationError, match="more than 3 shapes"):
        interpolated_shapes(keyframes, end=10, limit=3)
    with pytest.raises(InterpolationError, match="more than 10 coordinates"):
        interpolated_shapes(keyframes, end=10, point_limit=10)


def test_occluded_and_z_order_are_kept_and_carried_to_interpolated_frames(tmp_path):
    car = track(0, "car", box(0, (10, 20, 30, 40), occluded=1, z_order=2), box(4, (14, 20, 34, 40), outside=1))
    labels = _by_frame(_load(tmp_path, task_file(car)), 1)
    assert sorted(labels) == [0, 1, 2, 3]
    assert all(dict(l.attributes) == {"parked": "false", "occluded": "1", "z_order": "2"} for l in labels.values())


def test_a_job_export_imports_on_its_task_frames(tmp_path):
    car = track(0, "car", box(12, (10, 20, 30, 40)), box(16, (14, 20, 34, 40)))
    dataset = _load(tmp_path, job_file(car))
    (info,) = dataset.media
    # a job has no task name or source: its media is named by the job; frames are the task's
    assert (info.name, info.frames, info.width, info.height) == ("job_7", 20, 640, 480)
    labels = _by_frame(dataset, 1)
    assert sorted(labels) == list(range(12, 20))  # held to the end of the job's segment
    assert labels[14].shape == Box(12.0, 20.0, 32.0, 40.0)
    with pytest.raises(SessionFormatError, match=r"track\[0\]/box\[frame=9\]@frame: frame 9 is outside 10..19"):
        _load(tmp_path, job_file(track(0, "car", box(9, (10, 20, 30, 40)))))


def test_a_frame_step_and_start_map_to_the_videos_frames(tmp_path):
    car = track(0, "car", box(4, (10, 20, 30, 40)), box(12, (18, 20, 38, 40)))
    dataset = _load(tmp_path, task_file(car, size=5, start=4, stop=12, frame_filter="step=2"))
    assert dataset.media[0].frames == 13
    labels = _by_frame(dataset, 1)
    assert sorted(labels) == [4, 6, 8, 10, 12]
    assert labels[8].shape == Box(14.0, 20.0, 34.0, 40.0)
    with pytest.raises(SessionFormatError, match="frame 5 is outside 4..12 in steps of 2"):
        _load(tmp_path, task_file(track(0, "car", box(5, (1, 1, 2, 2))), size=5, start=4, frame_filter="step=2"))


def test_a_cvat_mask_shape_is_one_label_with_its_exact_pixels(tmp_path):
    # CVAT writes a mask shape as a track: the mask, then an outside copy on the next frame
    rle = "0, 4, 1, 4, 3, 3"  # a 3x5 crop, row by row: a ring around a one-pixel hole, a gap, a bar
    mask = ('    <mask frame="{f}" keyframe="1" outside="{o}" occluded="0" rle="' + rle +
            '" left="40" top="50" width="3" height="5" z_order="1">\n    </mask>')
    road = f'  <track id="5" label="road" source="manual">\n{mask.format(f=3, o=0)}\n{mask.format(f=4, o=1)}\n  </track>'
    dataset = _load(tmp_path, task_file(road))
    (label,) = dataset.labels
    assert (label.object_id, label.frame_index, label.class_name) == (6, 3, "road")
    assert dataset.ontology["road"].shape == "polygon" and dict(label.attributes) == {"z_order": "1"}
    expected = np.zeros((480, 640), bool)
    expected[50:55, 40:43] = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1], [0, 0, 0], [1, 1, 1]], bool)
    assert np.array_equal(full_mask(label.shape, 480, 640), expected)
    for old, new, message in (
        ('left="40"', 'left="639"', r"mask 3x5 at \(639, 50\) is not inside the 640x480 frame"),
        (rle, "15", "mask: no pixel is set"),
        (rle, "0, 4, 1", "the runs sum to 5, not width\\*height = 15"),
    ):
        with pytest.raises(SessionFormatError, match=message):
            _load(tmp_path, task_file(road.replace(old, new)), "bad.xml")


def test_a_project_export_is_refused_naming_what_to_export(tmp_path):
    text = task_file(CAR).replace("<task>", "<project>", 1).replace("</task>", "</project>", 1)
    with pytest.raises(SessionFormatError, match="meta/project: a CVAT project export holds several tasks; export"):
        _load(tmp_path, text)


def test_a_keyframe_held_for_millions_of_frames_is_refused_not_filled(tmp_path):
    text = task_file(track(0, "car", box(0, (10, 20, 30, 40))), size=10_000_000)
    with pytest.raises(SessionFormatError, match="more than 2000000"):
        _load(tmp_path, text)
