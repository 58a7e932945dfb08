import numpy as np
import pytest

from engine.geometry import box_to_mask, mask_iou, mask_to_box, mask_to_polygon, mask_to_shape, polygon_area, polygon_from_shapely, polygon_to_mask, polygon_to_shapely, remove_speckle
from engine.types import Box, Polygon

H, W = 120, 160
YY, XX = np.mgrid[:H, :W]


def disc(cx, cy, r):
    return (XX - cx) ** 2 + (YY - cy) ** 2 < r**2


def test_box_of_mask_uses_pixel_edges():
    mask = np.zeros((H, W), bool)
    mask[10:20, 30:35] = True
    assert mask_to_box(mask) == Box(30, 10, 35, 20)
    assert mask_to_box(np.zeros((H, W), bool)) is None
    assert np.array_equal(box_to_mask(Box(30, 10, 35, 20), H, W), mask)


def test_exact_outline_round_trips_pixel_for_pixel():
    ring = disc(60, 60, 40) & ~disc(60, 60, 15)
    island = disc(60, 60, 5)
    square = (XX >= 120) & (XX < 150) & (YY >= 10) & (YY < 30)
    mask = ring | island | square
    polygon = mask_to_polygon(mask, tolerance=0, min_area=0)
    assert len(polygon.parts) == 3
    holes = sorted(len(part) - 1 for part in polygon.parts)
    assert holes == [0, 0, 1]  # the ring keeps its hole; island and square have none
    assert np.array_equal(polygon_to_mask(polygon, H, W), mask)


def test_random_masks_round_trip_exactly_including_corner_touching_pixels():
    rng = np.random.default_rng(7)
    for _ in range(200):
        mask = rng.random((12, 12)) > rng.uniform(0.2, 0.8)
        polygon = mask_to_polygon(mask, tolerance=0, min_area=0)
        assert np.array_equal(polygon_to_mask(polygon, 12, 12), mask)
        assert polygon_to_shapely(polygon).is_valid


def test_default_simplification_keeps_the_shape_with_far_fewer_vertices():
    mask = disc(60, 60, 45) & ~disc(70, 55, 12) | disc(135, 90, 18)
    exact = mask_to_polygon(mask, tolerance=0, min_area=0)
    simple = mask_to_polygon(mask)
    assert mask_iou(polygon_to_mask(simple, H, W), mask) >= 0.98
    assert simple.num_vertices < exact.num_vertices / 3
    assert len(simple.parts) == 2 and sorted(len(p) for p in simple.parts) == [1, 2]
    assert polygon_to_shapely(simple).is_valid


def test_mask_iou_edge_cases():
    a = disc(40, 40, 10)
    assert mask_iou(a, a) == 1.0
    assert mask_iou(a, ~a) == 0.0
    assert mask_iou(np.zeros((H, W), bool), np.zeros((H, W), bool)) == 1.0  # empty ∪ empty
    assert mask_iou(a, np.zeros((H, W), bool)) == 0.0
    left, right = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    left[:, :2], right[:, 1:3] = True, True  # 4 shared of 12
    assert mask_iou(left, right) == 4 / 12
    assert mask_iou(left.astype(np.uint8) * 255, right) == 4 / 12  # non-zero is inside
    assert isinstance(mask_iou(left, right), float)
    with pytest.raises(ValueError):
        mask_iou(left, right[:3])


def test_tolerance_is_lowered_until_iou_holds_on_small_shapes():
    mask = disc(20, 20, 4)  # tiny: a 1-px tolerance would cut it badly
    polygon = mask_to_polygon(mask, tolerance=3.0)
    assert mask_iou(polygon_to_mask(polygon, H, W), mask) >= 0.98


def test_speckle_is_dropped_and_pinholes_filled():
    mask = disc(60, 60, 30)
    mask[60, 60] = False  # a 1-px hole
    mask[5, 5] = True  # a 1-px part
    cleaned = remove_speckle(mask, 4)
    assert cleaned[60, 60] and not cleaned[5, 5]
    polygon = mask_to_polygon(mask)
    assert len(polygon.parts) == 1 and len(polygon.parts[0]) == 1


def test_border_touching_masks_keep_their_border_pixels():
    mask = np.zeros((H, W), bool)
    mask[:, :10] = True
    mask[0, :] = True
    polygon = mask_to_polygon(mask, tolerance=0, min_area=0)
    assert np.array_equal(polygon_to_mask(polygon, H, W), mask)


def test_area_and_shapely_conversion():
    square = Polygon(((np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float), np.array([[2, 2], [4, 2], [4, 4], [2, 4]], float)),))
    assert polygon_area(square) == pytest.approx(96.0)
    again = polygon_from_shapely(polygon_to_shapely(square))
    assert polygon_area(again) == pytest.approx(96.0)
    assert polygon_to_mask(square, 12, 12).sum() == 96


def test_mask_to_shape_by_class_shape():
    mask = disc(50, 50, 10)
    assert isinstance(mask_to_shape(mask, "bounding_box"), Box)
    assert isinstance(mask_to_shape(mask, "polygon"), Polygon)
    assert mask_to_shape(np.zeros((H, W), bool), "polygon") is None
    with pytest.raises(ValueError):
        mask_to_shape(mask, "point")


def test_empty_mask_gives_empty_polygon():
    assert mask_to_polygon(np.zeros((H, W), bool)).parts == ()
