"""CVAT for images 1.1: import of image and video tasks, export, and what Datumaro's
``cvat`` importer reads from framewise's CVAT exports."""

import json
import os
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from engine.cli.main import main
from engine.errors import FormatWarning, SessionFormatError
from engine.formats import import_dataset
from engine.formats.cvat_images import import_cvat_images
from engine.formats.cvat_video import to_cvat_images, to_cvat_video
from engine.formats.dataset import Dataset
from engine.formats.shapes import full_mask, has_holes, quantise
from engine.geometry import polygon_to_mask
from engine.types import Box, Polygon
from tests.formats.test_cvat_interpolation import LABELS
from tests.formats.test_export_samples import FOLDER, VIDEO, sample_dataset


def images_file(images: str, *, mode="annotation", extra_meta="") -> str:
    """A task export as CVAT writes it in CVAT for images 1.1 (an image task has no
    original_size or source)."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>3</id>
      <name>shelves</name>
      <size>3</size>
      <mode>{mode}</mode>
      <overlap>0</overlap>
      <bugtracker></bugtracker>
      <created>2024-05-02 09:12:33.408127+00:00</created>
      <updated>2024-05-02 09:40:01.118290+00:00</updated>
      <subset>default</subset>
      <start_frame>0</start_frame>
      <stop_frame>2</stop_frame>
      <frame_filter></frame_filter>
      <segments>
        <segment>
          <id>5</id>
          <start>0</start>
          <stop>2</stop>
          <url>http://localhost:8080/api/jobs/5</url>
        </segment>
      </segments>
      <owner>
        <username>admin</username>
        <email>admin@example.com</email>
      </owner>
      <assignee></assignee>
{LABELS}{extra_meta}    </task>
    <dumped>2024-05-02 09:41:00.000000+00:00</dumped>
  </meta>
{images}
</annotations>
"""


SHELF = """  <image id="0" name="shelf/img_2.jpg" width="320" height="240">
    <box label="car" source="manual" occluded="1" xtl="1.00" ytl="2.00" xbr="30.00" ybr="40.00" z_order="0">
      <attribute name="parked">true</attribute>
    </box>
    <polygon label="person" source="semi-auto" occluded="0" points="50.00,50.00;90.00,50.00;70.00,80.00" z_order="1">
    </polygon>
    <mask label="road" source="manual" occluded="0" rle="0, 4, 1, 4, 3, 3" left="40" top="50" width="3" height="5" z_order="0">
    </mask>
    <tag label="car" source="manual">
    </tag>
  </image>
  <image id="1" name="shelf/img_10.jpg" width="320" height="240">
  </image>
  <image id="2" name="shelf/img_1.jpg" width="320" height="240">
    <box label="car" source="manual" occluded="0" xtl="5.00" ytl="5.00" xbr="9.00" ybr="9.00" z_order="0">
      <attribute name="parked">false</attribute>
    </box>
  </image>"""


def _write(tmp_path, text, name="annotations.xml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_image_task_is_an_image_folder_in_framewise_order(tmp_path):
    (tmp_path / "images" / "shelf").mkdir(parents=True)
    path = _write(tmp_path, images_file(SHELF))
    with pytest.warns(FormatWarning, match="1 <tag> elements .* skipped"):
        dataset = import_dataset("cvat-images", path)
    (info,) = dataset.media
    # names are inside the file's folder (its images/ folder, as in CVAT's zips)
    assert info.name == (tmp_path / "images" / "shelf").as_posix()
    assert (info.frames, info.width, info.height) == (3, 320, 240)
    assert info.frame_names == ("img_1.jpg", "img_2.jpg", "img_10.jpg")  # natural order, as framewise opens it
    assert [(c.name, c.shape) for c in dataset.ontology] == [
        ("car", "bounding_box"), ("person", "polygon"), ("road", "polygon")]
    labels = sorted(dataset.labels, key=lambda l: (l.frame_index, l.object_id))
    assert [(l.frame_index, l.object_id, l.class_name) for l in labels] == [
        (0, 4, "car"), (1, 1, "car"), (1, 2, "person"), (1, 3, "road")]
    car = labels[1]
    assert car.shape == Box(1.0, 2.0, 30.0, 40.0) and dict(car.attributes) == {"parked": "true", "occluded": "1"}
    assert (car.source, car.confirmed) == ("manual", True) and labels[2].source == "sam"
    assert dict(labels[2].attributes) == {"z_order": "1"}
    expected = np.zeros((240, 320), bool)
    expected[50:55, 40:43] = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1], [0, 0, 0], [1, 1, 1]], bool)
    assert np.array_equal(full_mask(labels[3].shape, 240, 320), expected)


def test_mixed_sizes_paths_leaving_the_folder_and_other_shapes(tmp_path):
    mixed = SHELF.replace('name="shelf/img_1.jpg" width="320"', 'name="shelf/img_1.jpg" width="640"')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FormatWarning)
        dataset = import_cvat_images(_write(tmp_path, images_file(mixed)))
    assert sorted((m.name.rsplit("/", 1)[-1], m.frames, m.width) for m in dataset.media) == [
        ("img_1.jpg", 1, 640), ("img_10.jpg", 1, 320), ("img_2.jpg", 1, 320)]
    cases = [
        (SHELF.replace("shelf/img_10.jpg", "../img_10.jpg"), "leaves its folder"),
        (SHELF.replace("shelf/img_10.jpg", "/etc/img_10.jpg"), "absolute path"),
        (SHELF.replace('<box label="car" source="manual" occluded="0" xtl="5.00" ytl="5.00" xbr="9.00" ybr="9.00"',
                       '<points label="car" source="manual" occluded="0" points="5.00,5.00"').removesuffix(
            "</box>\n  </image>") + "</points>\n  </image>",
         r"image\[2\]/points\[0\]: a <points> of the bounding_box label 'car'"),
        (SHELF.replace('<box label="car" source="manual" occluded="0" xtl="5.00" ytl="5.00" xbr="9.00" ybr="9.00"',
                       '<ellipse label="car" source="manual" occluded="0" cx="5" cy="5" rx="2" ry="2"').removesuffix(
            "</box>\n  </image>") + "</ellipse>\n  </image>",
         r"image\[2\]/ellipse\[0\]: shape type <ellipse> is not supported"),
        (SHELF.replace('label="person"', 'label="bus"'), r"image\[0\]/polygon\[1\]@label: unknown label 'bus'"),
    ]
    for text, message in cases:
        with pytest.raises(SessionFormatError, match=message):
            import_cvat_images(_write(tmp_path, images_file(text)))
    os.symlink("/tmp", tmp_path / "shelf")  # a folder name that resolves outside the file's folder
    with pytest.raises(SessionFormatError, match="resolves outside"):
        import_cvat_images(_write(tmp_path, images_file(SHELF)))


def test_a_video_task_in_cvat_for_images_is_one_video(tmp_path):
    images = """  <image id="4" name="frame_000004" width="640" height="480">
    <box label="car" source="manual" occluded="0" xtl="1.00" ytl="2.00" xbr="30.00" ybr="40.00" z_order="0">
      <attribute name="parked">false</attribute>
    </box>
  </image>"""
    video = "      <original_size>\n        <width>640</width>\n        <height>480</height>\n      </original_size>\n" \
            "      <source>street.mp4</source>\n"
    text = images_file(images, mode="interpolation", extra_meta=video).replace("<size>3</size>", "<size>10</size>")
    dataset = import_cvat_images(_write(tmp_path, text))
    assert [(m.name, m.frames, m.width) for m in dataset.media] == [("street.mp4", 10, 640)]
    assert [(l.frame_index, l.shape) for l in dataset.labels] == [(4, Box(1.0, 2.0, 30.0, 40.0))]
    with pytest.raises(SessionFormatError, match="a CVAT for video file"):
        import_cvat_images(_write(tmp_path, text.replace("<image", "<track").replace("</image>", "</track>")))
    with pytest.raises(SessionFormatError, match="a CVAT for images file .* import it as cvat-images"):
        import_dataset("cvat-video", _write(tmp_path, text))


@pytest.fixture(scope="module")
def dataset():
    return sample_dataset()


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FormatWarning)
        return call()


def test_cvat_images_export_import_export(tmp_path, dataset):
    text = _quiet(lambda: to_cvat_images(dataset, VIDEO))
    root = ET.fromstring(text)
    assert root.findtext("meta/task/mode") == "interpolation" and root.findtext("meta/task/source") == VIDEO
    names = [image.get("name") for image in root.findall("image")]
    assert names[:3] == ["frame_000000", "frame_000001", "frame_000002"]  # as CVAT names video frames
    first = root.find("image")[0]
    assert list(first.attrib)[:3] == ["label", "source", "occluded"] and list(first.attrib)[-1] == "z_order"
    path = _write(tmp_path, text, "video.xml")
    imported = _quiet(lambda: import_cvat_images(path))
    assert _quiet(lambda: to_cvat_images(imported, VIDEO)) == text
    # an image folder lists every image; coming back it is named by the file's folder
    text = _quiet(lambda: to_cvat_images(dataset, FOLDER))
    assert len(ET.fromstring(text).findall("image")) == 24
    imported = _quiet(lambda: import_cvat_images(_write(tmp_path, text, "frames.xml")))
    (info,) = imported.media
    assert info.name == tmp_path.as_posix() and info.frame_names == dataset.media_named(FOLDER).frame_names
    again = _quiet(lambda: to_cvat_images(imported, info.name))
    assert again == text.replace(f"<name>{FOLDER}</name>", f"<name>{info.name}</name>")


# -- Datumaro's cvat importer on framewise's exports -----------------------------------------


def _datumaro(folder):
    import datumaro as dm

    return dm.Dataset.import_from(str(folder), "cvat")


def test_datumaro_reads_the_cvat_images_export_masks_included(tmp_path, dataset):
    import datumaro as dm

    text = _quiet(lambda: to_cvat_images(dataset, VIDEO))
    (tmp_path / "annotations.xml").write_text(text)
    (tmp_path / "images").mkdir()  # Datumaro wants each named frame's file; sizes come from the XML
    for image in ET.fromstring(text).findall("image"):
        (tmp_path / "images" / image.get("name")).touch()
    read = _datumaro(tmp_path)
    ours = {(l.frame_index, l.object_id): l for l in dataset.labels if l.media == VIDEO}
    kinds = {"bbox": 0, "polygon": 0, "mask": 0}
    count = 0
    for item in read:
        frame = item.attributes["frame"]
        for annotation in item.annotations:
            count += 1
            label = ours[(frame, int(annotation.attributes["object_id"]))]
            expected = full_mask(quantise(label.shape), 360, 640)
            if annotation.type == dm.AnnotationType.mask:
                kinds["mask"] += 1
                theirs = annotation.image.astype(bool)
            elif annotation.type == dm.AnnotationType.polygon:
                kinds["polygon"] += 1
                ring = np.array(annotation.points, np.float64).reshape(-1, 2)
                theirs = polygon_to_mask(Polygon(((ring,),)), 360, 640)
            else:
                kinds["bbox"] += 1
                x, y, w, h = annotation.get_bbox()
                assert isinstance(label.shape, Box) and Box(x, y, x + w, y + h) == quantise(label.shape)
                continue
            iou = (expected & theirs).sum() / (expected | theirs).sum()
            assert iou >= 0.99 if annotation.type == dm.AnnotationType.polygon else iou == 1.0
    assert count == len(ours)
    assert kinds == {"bbox": 4, "polygon": 7, "mask": 8}


def test_datumaro_reads_the_cvat_video_export(tmp_path, dataset):
    """Datumaro 1.13 reads <mask> only inside <image> (it needs the image size), not in the
    tracks CVAT itself writes them in: this runs on the labels that export as polygons and boxes."""
    plain = [l for l in dataset.labels if isinstance(l.shape, Box) or (len(l.shape.parts) == 1 and not has_holes(l.shape))]
    subset = Dataset(dataset.ontology, dataset.media, plain)
    (tmp_path / "annotations.xml").write_text(to_cvat_video(subset, VIDEO))
    read = _datumaro(tmp_path)
    ours = {(l.frame_index, l.object_id): l for l in plain if l.media == VIDEO}
    shown = 0
    for item in read:
        for annotation in item.annotations:
            if annotation.attributes["outside"]:
                continue
            shown += 1
            label = ours[(item.attributes["frame"], annotation.attributes["track_id"] + 1)]
            assert annotation.attributes["keyframe"] is True
            if isinstance(label.shape, Box):
                x, y, w, h = annotation.get_bbox()
                assert Box(x, y, x + w, y + h) == quantise(label.shape)
            else:
                ring = np.array(annotation.points, np.float64).reshape(-1, 2)
                expected = full_mask(quantise(label.shape), 360, 640)
                theirs = polygon_to_mask(Polygon(((ring,),)), 360, 640)
                assert (expected & theirs).sum() / (expected | theirs).sum() >= 0.99
    assert shown == len(ours)


def test_the_cli_exports_and_imports_cvat_images(capsys, tmp_path, dataset):
    project = tmp_path / "project"
    path = _write(tmp_path, images_file(SHELF))
    assert main(["import", str(project), "--format", "cvat-images", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["labels"] == 4 and "1 <tag> elements" in err
    assert main(["export", str(project), "--format", "cvat-images", "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    (written,) = (tmp_path / "out").glob("*.xml")
    assert len(ET.parse(written).getroot().findall("image")) == 3


def test_with_frames_datumaro_reads_every_media_with_its_images(tmp_path):
    """--with-frames writes each <image> where Datumaro's cvat reader looks for it
    (images/<XML stem>/<name>): every media of the export reads with pixels, and the
    annotations match the labels."""
    import datumaro as dm

    from engine.formats.writers import ExportOptions, export_dataset
    from tests.formats.test_export_samples import ROOT

    dataset = sample_dataset()
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FormatWarning)
        export_dataset(dataset, "cvat-images", out, ExportOptions(with_frames=True, locate=lambda info: ROOT / info.name))
    stems = dataset.stems()
    for info in dataset.media:  # one task per XML (their label declarations differ: Datumaro reads them apart)
        read = dm.Dataset.import_from(str(out / f"{stems[info.name]}.xml"), "cvat")
        assert {item.subset for item in read} == {stems[info.name]}
        assert all(item.media.has_data and item.media.data.shape[:2] == (info.height, info.width) for item in read)
        # one annotation per label: several-part and holed labels are one <mask>
        assert sum(len(item.annotations) for item in read) == len(dataset.labels_of(info.name))
    folder = next(info for info in dataset.media if info.frame_names)
    first = folder.frame_names[0]
    assert (out / "images" / stems[folder.name] / first).read_bytes() == (ROOT / folder.name / first).read_bytes()
