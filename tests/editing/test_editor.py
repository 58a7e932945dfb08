"""The Editor with the real classic segmenter on a synthetic image."""

import numpy as np
import pytest

from counting_media import CountingSource, moving_square
from engine.editing.editor import Editor
from engine.errors import EditorStateError, FrameIndexError, OntologyError, PromptError
from engine.fileio import write_image
from engine.geometry import mask_iou, polygon_to_mask
from engine.ontology import default_ontology
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Box, Polygon

H, W = 180, 240


def scene():
    """A textured red disc and a blue square on a noisy grey background, with their masks."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:H, :W]
    image = np.clip(rng.normal(120, 12, (H, W, 3)), 0, 255)
    disc = (xx - 80) ** 2 + (yy - 90) ** 2 < 40**2
    square = (xx >= 160) & (xx < 210) & (yy >= 40) & (yy < 90)
    image[disc] = np.clip(rng.normal((200, 50, 40), 15, (disc.sum(), 3)), 0, 255)
    image[square] = np.clip(rng.normal((40, 60, 200), 15, (square.sum(), 3)), 0, 255)
    return image.astype(np.uint8), disc, square


@pytest.fixture()
def editor(tmp_path):
    image, disc, square = scene()
    path = write_image(tmp_path / "scene.png", image)
    editor = Editor(ClassicSegmenter(), default_ontology(), quality=1.0)
    editor.open(path)
    yield editor, disc, square
    editor.close()


def test_click_apply_gives_a_polygon_matching_the_object(editor):
    editor, disc, _ = editor
    editor.toggle_sam()
    proposal = editor.click(80, 90, positive=True)
    assert proposal.mask(0).shape == (H, W)
    assert mask_iou(editor.selection_mask(), disc) > 0.9
    label = editor.apply()
    assert isinstance(label.shape, Polygon) and label.class_name == "object"
    assert mask_iou(polygon_to_mask(label.shape, H, W), disc) > 0.9
    assert editor.labels(0) == [label]
    assert editor.selection.proposal is None  # applied: the next object starts fresh


def test_box_class_applies_a_box(editor):
    editor, _, square = editor
    editor.toggle_sam()
    editor.set_class("box")
    editor.click(185, 65)
    label = editor.apply()
    assert isinstance(label.shape, Box)
    assert abs(label.shape.x0 - 160) <= 3 and abs(label.shape.y1 - 90) <= 3


def test_sam_mode_survives_class_changes_and_is_only_for_polygon_and_box(editor):
    editor, _, _ = editor
    assert editor.toggle_sam() is True
    editor.set_class("keypoint")
    assert editor.sam_mode and not editor.sam_active
    with pytest.raises(EditorStateError, match="polygon and bounding-box"):
        editor.click(10, 10)
    editor.set_class("box")
    assert editor.sam_active
    assert editor.toggle_sam() is False
    editor.set_class("keypoint")
    with pytest.raises(EditorStateError, match="SAM works only"):
        editor.toggle_sam()
    with pytest.raises(OntologyError):
        editor.set_class("nope")


def test_clicks_need_sam_mode(editor):
    editor, _, _ = editor
    with pytest.raises(EditorStateError, match="SAM mode is off"):
        editor.click(80, 90)


def test_reset_clears_prompts_and_exclude_click_refines(editor):
    editor, disc, square = editor
    editor.toggle_sam()
    editor.drag_box(20, 20, 230, 170)  # both objects inside
    editor.click(80, 90, True)
    editor.click(185, 65, False)
    mask = editor.selection_mask()
    assert mask[90, 80] and not mask[65, 185]
    editor.reset()
    assert editor.selection.empty and editor.selection_mask() is None
    with pytest.raises(EditorStateError, match="nothing is selected"):
        editor.apply()


def test_events_are_recorded_with_normalised_coordinates(editor):
    editor, _, _ = editor
    editor.toggle_sam()
    editor.click(119.5, 89.5)
    editor.set_quality(0.6)
    editor.apply()
    kinds = editor.log.kinds()
    assert kinds == ["open", "sam", "click", "quality", "apply"]
    click = editor.log.events[2]
    assert click.data["x"] == pytest.approx(0.5) and click.data["y"] == pytest.approx(0.5)
    assert click.frame_index == 0


def test_bad_prompts_and_frames_raise_clear_errors(editor):
    editor, _, _ = editor
    editor.toggle_sam()
    with pytest.raises(PromptError, match="outside"):
        editor.click(W + 50, 10)
    with pytest.raises(PromptError, match="empty box"):
        editor.drag_box(10, 10, 10, 50)
    with pytest.raises(FrameIndexError, match="out of range"):
        editor.goto(5)
    with pytest.raises(PromptError, match="quality"):
        editor.set_quality(3)
    assert editor.log.kinds() == ["open", "sam"]  # failed calls are not recorded


def test_editor_without_media_says_so():
    editor = Editor(ClassicSegmenter())
    with pytest.raises(EditorStateError, match="no media is open"):
        editor.goto(0)


def test_a_box_drag_over_known_pixels_is_recorded_as_their_edges(editor):
    """Boxes are pixel edges (engine.types): the square covers pixels 160..209 × 40..89,
    so a drag along its outline is the box (160, 40, 210, 90), whichever way it goes."""
    editor, _, square = editor
    editor.toggle_sam()
    editor.set_class("box")
    editor.drag_box(210, 90, 160, 40)
    assert editor.selection.box == (160.0, 40.0, 210.0, 90.0)
    event = editor.log.events[-1]
    assert event.kind == "box"
    assert [event.data[k] for k in ("x0", "y0", "x1", "y1")] == [160 / W, 40 / H, 210 / W, 90 / H]
    label = editor.apply()
    assert label.shape == Box(160.0, 40.0, 210.0, 90.0)
    editor.toggle_sam()
    editor.toggle_sam()
    editor.drag_box(-5, -5, W + 5, H + 5)  # a drag past the frame is clipped to its edges
    assert editor.selection.box == (0.0, 0.0, float(W), float(H))


def test_propagation_decodes_each_frame_once_and_is_one_undo_step():
    """The propagator reads frames through the Editor's frame server, which the embedding
    worker reads too: one decode per frame, also far beyond the prefetch window."""
    frames, masks = moving_square(14)
    source = CountingSource(frames)
    editor = Editor(ClassicSegmenter(), quality=0.2, frame_server_options={"window": (0, 2)})
    editor.open(source)
    editor.toggle_sam()
    editor.click(24, 48)
    editor.apply()
    result = editor.propagate(1)
    editor.close()
    assert result.last == 13 and result.written == 13 and not result.flagged
    assert [label.frame_index for label in editor.labels()] == list(range(14))
    assert all(count == 1 for count in source.decodes.values()) and len(source.decodes) == 14, dict(source.decodes)
    assert editor.log.kinds()[-1] == "propagate"


def test_undo_takes_a_whole_propagation_run_back_unless_single():
    frames, _ = moving_square(6)
    editor = Editor(ClassicSegmenter(), quality=0.2)
    editor.open(CountingSource(frames))
    editor.toggle_sam()
    editor.click(24, 48)
    editor.apply()
    editor.propagate(1)
    assert len(editor.labels()) == 6
    editor.undo(single=True)
    assert len(editor.labels()) == 5
    editor.undo()
    assert len(editor.labels()) == 1
    editor.redo()
    assert len(editor.labels()) == 6
    assert editor.log.kinds()[-10:] == ["undo"] * 5 + ["redo"] * 5  # one event per change set
    editor.close()
