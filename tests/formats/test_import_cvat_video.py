"""CVAT for video import: native CVAT files, unsafe XML refused, malformed fields named."""

import json

import numpy as np
import pytest

from engine.cli.main import main
from engine.errors import SessionFormatError
from engine.formats.cvat_import import import_cvat_video
from engine.project import Project
from engine.types import Box, Polygon

HEADER = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>5</id>
      <name>interpolation</name>
      <size>20</size>
      <mode>interpolation</mode>
      <labels>
        <label><name>car</name><attributes></attributes></label>
        <label><name>sign</name><color>#fa3253</color><type>rectangle</type><attributes></attributes></label>
      </labels>
      <original_size><width>640</width><height>480</height></original_size>
    </task>
    <dumped>2018-09-25 16:05:07</dumped>
  </meta>
"""

# The shape of a CVAT-made file: no framewise attributes, interpolated (keyframe 0) frames,
# outside markers, track ids from 0.
NATIVE = HEADER + """
  <track id="0" label="car" source="manual">
    <polygon frame="0" points="324.79,213.16;323.74,227.90;347.42,237.37" outside="0" occluded="0" keyframe="1"></polygon>
    <polygon frame="1" points="325.00,213.00;324.00,228.00;348.00,238.00" outside="0" occluded="0" keyframe="0"></polygon>
    <polygon frame="2" points="325.00,213.00;324.00,228.00;348.00,238.00" outside="1" occluded="0" keyframe="1"></polygon>
    <polygon frame="6" points="305.32,237.90;312.16,207.90;352.69,206.32" outside="0" occluded="0" keyframe="1">
      <attribute name="colour">red</attribute>
    </polygon>
  </track>
  <track id="3" label="sign" source="auto">
    <box frame="4" xtl="1.5" ytl="2" xbr="30" ybr="40.25" outside="0" occluded="1" keyframe="1" z_order="0"></box>
  </track>
</annotations>
"""


def _write(tmp_path, text, name="annotations.xml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_native_cvat_file_imports(tmp_path):
    dataset = import_cvat_video(_write(tmp_path, NATIVE))
    (info,) = dataset.media
    assert (info.name, info.frames, info.width, info.height) == ("interpolation", 20, 640, 480)
    assert [(c.name, c.shape) for c in dataset.ontology] == [("car", "polygon"), ("sign", "bounding_box")]
    assert dataset.ontology["sign"].colour == "#fa3253"
    labels = {(l.object_id, l.frame_index): l for l in dataset.labels}
    # what CVAT shows: frame 0, frame 1 interpolated towards the outside keyframe at 2 (the
    # keyframe="0" element is CVAT's own derivation: derived again, not read), nothing on
    # 2..5, then frame 6 held to the end of the task; the sign's one box held from 4 on
    assert sorted(labels) == [(1, 0), (1, 1)] + [(1, f) for f in range(6, 20)] + [(4, f) for f in range(4, 20)]
    assert (labels[(1, 0)].source, labels[(1, 0)].confirmed) == ("manual", True)
    assert (labels[(1, 1)].source, labels[(1, 1)].confirmed) == ("interpolated", False)
    np.testing.assert_allclose(  # halfway between frame 0 and the outside keyframe on frame 2
        labels[(1, 1)].shape.parts[0][0], [[324.895, 213.08], [323.87, 227.95], [347.71, 237.685]], atol=1e-9
    )
    assert dict(labels[(1, 6)].attributes) == {"colour": "red"}
    assert (labels[(1, 19)].source, labels[(1, 19)].confirmed, dict(labels[(1, 19)].attributes)) == (
        "interpolated", False, {"colour": "red"})
    assert labels[(1, 19)].shape.parts[0][0].tolist() == labels[(1, 6)].shape.parts[0][0].tolist()
    sign = labels[(4, 4)]
    assert sign.source == "propagated" and sign.shape == Box(1.5, 2.0, 30.0, 40.25)
    assert dict(sign.attributes) == {"occluded": "1"}  # occluded="1" kept; z_order 0 is the default
    shape = labels[(1, 0)].shape
    assert isinstance(shape, Polygon) and shape.parts[0][0].tolist() == [[324.79, 213.16], [323.74, 227.9], [347.42, 237.37]]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<annotations><version>&lol2;</version></annotations>
"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotations><version>&xxe;</version></annotations>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL, '<!DOCTYPE annotations><annotations/>'])
def test_dtds_and_entities_are_refused(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(SessionFormatError, match=f"{path}: refused XML"):
        import_cvat_video(path)


def _replace(old, new):
    assert old in NATIVE
    return NATIVE.replace(old, new, 1)


CASES = [
    ("not xml", "<annotations><track>", "not well-formed XML"),
    ("wrong root", "<tasks/>", "root element is <tasks>"),
    ("no task", "<annotations><meta/></annotations>", "meta/task: missing"),
    ("no size", _replace("<size>20</size>", ""), "meta/task/size: expected an integer, got ''"),
    ("size not a number", _replace("<size>20</size>", "<size>many</size>"), "meta/task/size: expected an integer"),
    ("no frame size", _replace("<width>640</width>", ""), "meta/task/original_size/width: expected an integer"),
    ("two points", _replace('points="324.79,213.16;323.74,227.90;347.42,237.37"', 'points="1,2;3,4"'),
     "track[0]/polygon[frame=0]@points: polygon with 2 points"),
    ("bad pair", _replace('points="324.79,213.16;', 'points="324.79;'), "@points: '324.79' is not x,y"),
    ("nan point", _replace('points="324.79,213.16;', 'points="nan,1;'), "expected a finite number"),
    ("unknown label", _replace('label="car"', 'label="bus"'), "track[0]@label: unknown label 'bus'"),
    ("unsupported shape", _replace("<box ", '<ellipse cx="1" cy="1" rx="1" ry="1" ').replace("></box>", "></ellipse>"),
     "track[1]/ellipse[frame=4]: shape type <ellipse> is not supported"),
    ("points of a box label", _replace("<box ", '<points points="1,1" ').replace("></box>", "></points>"),
     "track[1]: a <points> of the bounding_box label 'sign'"),
    ("frame outside", _replace('frame="6"', 'frame="20"'), "track[0]/polygon[frame=20]@frame: frame 20 is outside 0..19"),
    ("frame twice", _replace('frame="6"', 'frame="1"'), "frame 1 twice"),
    ("bad outside flag", _replace('outside="1"', 'outside="yes"'), "@outside: expected 0 or 1"),
    ("empty box", _replace('xbr="30"', 'xbr="1"'), "track[1]/box[frame=4]: empty box"),
    ("bad track id", _replace('id="3"', 'id="x"'), "track[1]@id: expected an integer"),
    ("duplicate track id", _replace('id="3"', 'id="0"'), "duplicate track id 0"),
    ("unknown source", _replace('<attribute name="colour">red</attribute>', '<attribute name="source">magic</attribute>'),
     "unknown source 'magic'"),
    ("bad score", _replace('<attribute name="colour">red</attribute>', '<attribute name="score">high</attribute>'),
     "attribute[score]: expected a number"),
    ("duplicate labels", _replace("<name>sign</name>", "<name>car</name>"), "duplicate class name 'car'"),
]


@pytest.mark.parametrize("text, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_files_name_the_file_and_the_field(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(SessionFormatError) as info:
        import_cvat_video(path)
    assert str(info.value).startswith(str(path)), str(info.value)
    assert message in str(info.value), str(info.value)


def test_size_cap_and_missing_file(tmp_path):
    path = _write(tmp_path, NATIVE)
    with pytest.raises(SessionFormatError, match="over the import limit of 1000 bytes"):
        import_cvat_video(path, max_bytes=1000)
    with pytest.raises(SessionFormatError, match="no such file"):
        import_cvat_video(tmp_path / "nope.xml")
    with pytest.raises(SessionFormatError, match="not a regular file"):
        import_cvat_video(tmp_path)


def test_media_name_from_meta_source_and_bbox_label_type(tmp_path):
    # CVAT 1.x wrote <source> next to <task>, and labels say "bbox" since CVAT 2.
    text = NATIVE.replace("<type>rectangle</type>", "<type>bbox</type>").replace(
        "<dumped>2018-09-25 16:05:07</dumped>", "<dumped>2018-09-25 16:05:07</dumped>\n    <source>clips/road.mp4</source>"
    )
    dataset = import_cvat_video(_write(tmp_path, text))
    assert [info.name for info in dataset.media] == ["clips/road.mp4"]
    assert dataset.ontology["sign"].shape == "bounding_box"
    task_source = text.replace("</original_size>", "</original_size><source>task.mp4</source>")
    assert [info.name for info in import_cvat_video(_write(tmp_path, task_source)).media] == ["task.mp4"]


# -- issue #17: crafted small files through `framewise import` ------------------------------


def _task(size="3", width="4", height="3", track="0", shape='<box frame="0" xtl="0" ytl="0" xbr="2" ybr="2"'):
    """The shape of the issue's crafted files: one task, one label, one track of one shape."""
    kind = "polygon" if shape.startswith("<polygon") else "rectangle"
    tag = "polygon" if kind == "polygon" else "box"
    return f"""<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version><meta><task><name>v</name><size>{size}</size>
<labels><label><name>car</name><type>{kind}</type></label></labels>
<original_size><width>{width}</width><height>{height}</height></original_size></task></meta>
<track id="{track}" label="car">{shape} outside="0" keyframe="1"></{tag}></track></annotations>
"""


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


CLI_CASES = [
    # accepted before, then exports tried a list (or a PNG) per frame
    ("size 10**12", _task(size=str(10**12)), "meta/task/size: 1000000000000 frames is over the limit of 10000000"),
    # OverflowError: Python int too large to convert to SQLite INTEGER
    ("size 2**64", _task(size=str(2**64)), "meta/task/size: 18446744073709551616 frames is over the limit"),
    ("track id 2**64", _task(track=str(2**64)), "track[0]@id: 18446744073709551616 is outside 0..9223372036854775806"),
    # accepted before; a DAVIS export then asked for 9.3 GiB per frame
    ("a 100000x100000 frame", _task(width="100000", height="100000"),
     "meta/task/original_size: frame size 100000x100000 is over the limit of 268435456 pixels"),
    ("a box wholly outside the frame", _task(shape='<box frame="0" xtl="1e308" ytl="0" xbr="1.5e308" ybr="2"'),
     "track[0]/box[frame=0]: the shape lies wholly outside the 4x3 frame"),
]


@pytest.mark.parametrize("text, message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_extreme_sizes_and_ids_are_one_line_and_create_nothing(capsys, tmp_path, text, message):
    path = _write(tmp_path, text)
    code, out, err = _cli(capsys, "import", tmp_path / "project", "--format", "cvat-video", path)
    assert (code, out) == (2, "")
    assert err.splitlines() == [err.strip()] and err.startswith(f"framewise: error: {path}: {message}"), err
    assert not (tmp_path / "project").exists()


def test_far_coordinates_are_clipped_to_the_frame_as_cvat_does_and_export(capsys, tmp_path):
    """Points at 1e308 imported as they were; the COCO and DAVIS exports then raised OverflowError."""
    path = _write(tmp_path, _task(shape='<polygon frame="0" points="0,0;1e308,0;1e308,1e308"'))
    folder = tmp_path / "project"
    assert _cli(capsys, "import", folder, "--format", "cvat-video", path)[0] == 0
    with Project.open(folder) as project:
        labels = project.labels()
    # the one keyframe shows on every frame to the end of the task, as CVAT shows it
    assert sorted(label.frame_index for label in labels) == [0, 1, 2]
    for label in labels:
        assert label.shape.parts[0][0].tolist() == [[0, 0], [4, 0], [4, 3]]
    for fmt in ("coco", "davis", "cvat-video"):
        code, _, err = _cli(capsys, "export", folder, "--format", fmt, "--out", tmp_path / fmt)
        assert code == 0, err
    exported = json.loads((tmp_path / "coco" / "annotations" / "instances_default.json").read_text())
    assert exported["annotations"][0]["bbox"] == [0.0, 0.0, 4.0, 3.0]


def test_an_outside_marker_beyond_the_frame_only_ends_the_track(tmp_path):
    """CVAT leaves an object's last shape where it left the frame: not a label, not refused."""
    text = _task().replace(
        "</box></track>", '</box><box frame="1" xtl="50" ytl="0" xbr="60" ybr="2" outside="1" keyframe="1"></box></track>'
    )
    dataset = import_cvat_video(_write(tmp_path, text))
    assert [(label.frame_index, label.shape) for label in dataset.labels] == [(0, Box(0.0, 0.0, 2.0, 2.0))]

