"""Point (keypoint) labels from files shaped as the other tools write them: CVAT for video and
for images 1.1 ``<points>``, COCO person-keypoints categories of one keypoint, LabelMe
``point`` shapes and Label Studio ``keypointlabels`` results; and what is refused."""

from __future__ import annotations

import json

import pytest

from engine.errors import FormatWarning, SessionFormatError
from engine.formats.coco_import import from_coco
from engine.formats.cvat_images import import_cvat_images
from engine.formats.cvat_import import import_cvat_video
from engine.formats.labelme_import import import_labelme
from engine.formats.labelstudio_import import from_label_studio
from engine.types import Point, Polygon
from tests.formats.test_cvat_images import images_file
from tests.formats.test_cvat_interpolation import task_file
from tests.formats.test_labelme import _labelme, _shape, _write
from tests.formats.test_labelstudio import _rectangle, _task

NOSE = """        <label>
          <name>nose</name>
          <color>#ff00cc</color>
          <type>points</type>
          <attributes>
          </attributes>
        </label>
"""


def _with_nose(text: str) -> str:
    return text.replace("      </labels>", NOSE + "      </labels>", 1)


def _point(frame, xy, *, keyframe=1, outside=0, occluded=0):
    return (f'    <points frame="{frame}" keyframe="{keyframe}" outside="{outside}" occluded="{occluded}" '
            f'points="{xy[0]:.2f},{xy[1]:.2f}" z_order="0">\n    </points>')


def _load_video(tmp_path, tracks):
    path = tmp_path / "annotations.xml"
    path.write_text(_with_nose(task_file(tracks)), encoding="utf-8")
    return import_cvat_video(path)


# -- CVAT ------------------------------------------------------------------------------------------


def test_a_cvat_video_points_track_imports_moving_linearly_as_cvat_shows_it(tmp_path):
    track = ('  <track id="0" label="nose" source="manual">\n'
             + "\n".join([_point(0, (10.5, 20.5)), _point(4, (14.5, 28.5), occluded=1), _point(6, (14.5, 28.5), outside=1)])
             + "\n  </track>")
    dataset = _load_video(tmp_path, track)
    assert dataset.ontology["nose"].shape == "point"
    labels = {label.frame_index: label for label in dataset.labels}
    assert sorted(labels) == [0, 1, 2, 3, 4, 5]  # held after frame 4, ended by the outside marker
    assert labels[0].shape == Point(10.0, 20.0)  # CVAT's pixel edges: the pixel centre is 0.5 less
    assert labels[2].shape == Point(12.0, 24.0) and labels[2].source == "interpolated" and not labels[2].confirmed
    assert labels[4].shape == Point(14.0, 28.0) and dict(labels[4].attributes) == {"occluded": "1"}
    assert (labels[0].source, labels[0].confirmed, labels[0].object_id) == ("manual", True, 1)


def test_cvat_video_refuses_points_of_other_classes_and_several_points_in_one_element(tmp_path):
    on_car = '  <track id="0" label="car" source="manual">\n' + _point(0, (1, 2)) + "\n  </track>"
    with pytest.raises(SessionFormatError, match=r"track\[0\]: a <points> of the bounding_box label 'car'"):
        _load_video(tmp_path, on_car)
    polygon = ('    <polygon frame="0" keyframe="1" outside="0" occluded="0" points="0,0;9,0;9,9" z_order="0">\n'
               "    </polygon>")
    with pytest.raises(SessionFormatError, match=r"track\[0\]: a <polygon> of the point label 'nose'"):
        _load_video(tmp_path, '  <track id="0" label="nose" source="manual">\n' + polygon + "\n  </track>")
    several = _point(0, (1, 2)).replace('points="1.00,2.00"', 'points="1.00,2.00;3.00,4.00"')
    with pytest.raises(SessionFormatError, match=r"2 points in one element; framewise point labels hold one"):
        _load_video(tmp_path, '  <track id="0" label="nose" source="manual">\n' + several + "\n  </track>")


def test_cvat_images_points_as_cvat_writes_them_import(tmp_path):
    images = """  <image id="0" name="shelf/img_1.jpg" width="320" height="240">
    <points label="nose" source="manual" occluded="1" points="10.50,20.50" z_order="0">
    </points>
    <box label="car" source="manual" occluded="0" xtl="1.00" ytl="2.00" xbr="30.00" ybr="40.00" z_order="0">
      <attribute name="parked">false</attribute>
    </box>
  </image>
  <image id="1" name="shelf/img_2.jpg" width="320" height="240">
    <points label="nose" source="semi-auto" occluded="0" points="400.00,-3.00" z_order="0">
    </points>
  </image>"""
    path = tmp_path / "annotations.xml"
    path.write_text(_with_nose(images_file(images)), encoding="utf-8")
    dataset = import_cvat_images(path)
    assert dataset.ontology["nose"].shape == "point"
    points = sorted((label.frame_index, label.shape, dict(label.attributes)) for label in dataset.labels
                    if label.class_name == "nose")
    # clamped into the image as CVAT clips: pixel centres run from -0.5 to W - 0.5
    assert points == [(0, Point(10.0, 20.0), {"occluded": "1"}), (1, Point(319.5, -0.5), {})]


# -- COCO ------------------------------------------------------------------------------------------

PERSON_KEYPOINTS = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                    "right_knee", "left_ankle", "right_ankle"]


def _keypoints_file() -> dict:
    """A person-keypoints file as COCO and CVAT's COCO Keypoints export write them: a
    one-keypoint category (no framewise ``shape``) and COCO's 17-keypoint person."""
    return {
        "info": {"description": "", "version": "1.0"},
        "licenses": [],
        "images": [{"id": 1, "file_name": "img_1.jpg", "width": 320, "height": 240, "license": 0}],
        "categories": [
            {"id": 1, "name": "tip", "supercategory": "", "keypoints": ["tip"], "skeleton": []},
            {"id": 2, "name": "person", "supercategory": "person", "keypoints": PERSON_KEYPOINTS,
             "skeleton": [[16, 14], [14, 12]]},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [], "area": 0.0, "bbox": [12.0, 30.0, 0, 0],
             "iscrowd": 0, "keypoints": [12, 30, 2], "num_keypoints": 1},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [], "area": 0.0, "bbox": [0, 0, 0, 0],
             "iscrowd": 0, "keypoints": [0, 0, 0], "num_keypoints": 0},
            {"id": 3, "image_id": 1, "category_id": 1, "segmentation": [], "area": 0.0, "bbox": [5.5, 6.5, 0, 0],
             "iscrowd": 0, "keypoints": [5.5, 6.5, 1], "num_keypoints": 1, "attributes": {"occluded": True}},
            {"id": 4, "image_id": 1, "category_id": 2, "segmentation": [[10, 10, 60, 10, 60, 90, 10, 90, 5, 50]],
             "area": 4000.0, "bbox": [5, 10, 55, 80], "iscrowd": 0, "keypoints": [30, 20, 2] + [0, 0, 0] * 16,
             "num_keypoints": 1},
        ],
    }


def test_a_one_keypoint_category_imports_as_a_point_class(tmp_path):
    with pytest.warns(FormatWarning, match=r"1 unlabelled keypoints \(v=0\) left out"):
        dataset = from_coco(_keypoints_file(), source="kp.json", root=tmp_path)
    assert [(c.name, c.shape) for c in dataset.ontology] == [("tip", "point"), ("person", "polygon")]
    tips = sorted((label.shape.x, label.shape.y, dict(label.attributes)) for label in dataset.labels
                  if label.class_name == "tip")
    assert tips == [(5.5, 6.5, {"occluded": "1"}), (12.0, 30.0, {})]  # v=1: occluded, as CVAT's flag says it
    (person,) = [label for label in dataset.labels if label.class_name == "person"]
    assert isinstance(person.shape, Polygon)  # a 17-keypoint person keeps its region; its keypoints are not read


def test_coco_point_annotations_must_hold_one_keypoint(tmp_path):
    data = _keypoints_file()
    data["annotations"][0]["keypoints"] = [12, 30, 2, 13, 31, 2]
    with pytest.raises(SessionFormatError, match=r"annotations\[0\].keypoints: expected one keypoint \[x, y, v\], got 6"):
        from_coco(data, source="kp.json", root=tmp_path)
    data["annotations"][0]["keypoints"] = [12, 30, 3]
    with pytest.raises(SessionFormatError, match="visibility must be 0, 1 or 2"):
        from_coco(data, source="kp.json", root=tmp_path)
    del data["annotations"][0]["keypoints"]
    with pytest.raises(SessionFormatError, match=r"annotations\[0\]: missing key 'keypoints'"):
        from_coco(data, source="kp.json", root=tmp_path)


def test_an_occluded_coco_keypoint_comes_back_occluded_and_exports_as_v1(tmp_path):
    from engine.formats.coco import to_coco

    data = _keypoints_file()
    data["annotations"][2].pop("attributes")
    with pytest.warns(FormatWarning):
        dataset = from_coco(data, source="kp.json", root=tmp_path)
    occluded = next(label for label in dataset.labels if label.class_name == "tip" and label.shape.x == 5.5)
    assert dict(occluded.attributes) == {"occluded": "1"}
    written = [a["keypoints"] for a in to_coco(dataset)["annotations"] if a["category_id"] == 1]
    assert sorted(written) == [[5.5, 6.5, 1], [12.0, 30.0, 2]]


# -- LabelMe and Label Studio ------------------------------------------------------------------


def test_labelme_point_shapes_import_at_the_pixel_centre(tmp_path):
    folder = tmp_path / "shots"
    shapes = [_shape("eye", [[10.5, 20.5]], "point", group_id=3), _shape("eye", [[700.0, 5.0]], "point"),
              _shape("dog", [[1, 1], [9, 1], [9, 9]])]
    _write(folder, "img_1.json", _labelme("img_1.jpg", shapes))
    dataset = import_labelme(folder)
    assert [(c.name, c.shape) for c in dataset.ontology] == [("eye", "point"), ("dog", "polygon")]
    eyes = sorted((label.object_id, label.shape) for label in dataset.labels if label.class_name == "eye")
    assert eyes[0] == (3, Point(10.0, 20.0)) and eyes[1][1] == Point(639.5, 4.5)  # clamped into the image


def test_labelme_refuses_points_mixed_with_areas_in_one_class_and_several_points(tmp_path):
    folder = tmp_path / "mixed"
    _write(folder, "a.json", _labelme("a.jpg", [_shape("eye", [[1, 2]], "point"), _shape("eye", [[1, 1], [9, 1], [9, 9]])]))
    with pytest.raises(SessionFormatError, match="class 'eye' has point and polygon shapes"):
        import_labelme(folder)
    folder = tmp_path / "two"
    _write(folder, "a.json", _labelme("a.jpg", [_shape("eye", [[1, 2], [3, 4]], "point")]))
    with pytest.raises(SessionFormatError, match=r"shapes\[0\].points: a point needs 1 point, got 2"):
        import_labelme(folder)


def _keypoint(region_id, x, y, label, width=0.625):
    """A ``keypointlabels`` result as Label Studio's JSON export writes it (percent of the image)."""
    return {
        "original_width": 800,
        "original_height": 600,
        "image_rotation": 0,
        "value": {"x": x, "y": y, "width": width, "keypointlabels": [label]},
        "id": region_id,
        "from_name": "kp",
        "to_name": "image",
        "type": "keypointlabels",
        "origin": "manual",
    }


def test_label_studio_keypointlabels_import_as_points():
    tasks = [_task(1, "/data/upload/1/5d7b4c91-frame_1.jpg",
                   [_keypoint("a1", 50.0, 25.0, "Engine"), _keypoint("a2", 0.0, 100.0, "Tail"),
                    _rectangle("b1", 10, 10, 20, 20, "Car")])]
    result = from_label_studio(tasks)
    dataset = result.dataset
    assert [(c.name, c.shape) for c in dataset.ontology] == [("Engine", "point"), ("Tail", "point"),
                                                             ("Car", "bounding_box")]
    shapes = {label.class_name: label.shape for label in dataset.labels}
    assert shapes["Engine"] == Point(399.5, 149.5)  # 50 % of 800 on the pixel-edge canvas
    assert shapes["Tail"] == Point(-0.5, 599.5)
    assert not result.notes


def test_label_studio_refuses_a_class_with_keypoints_and_other_regions():
    tasks = [_task(1, "/data/upload/1/frame_1.jpg", [_keypoint("a1", 50.0, 25.0, "Car"),
                                                      _rectangle("b1", 10, 10, 20, 20, "Car")])]
    with pytest.raises(SessionFormatError, match="class 'Car' has keypoints and other regions"):
        from_label_studio(json.loads(json.dumps(tasks)))
