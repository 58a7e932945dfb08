"""Per-frame precomputation of the classic segmenter: the superpixel region graph.

`build_region_graph` turns a working-resolution frame into plain numpy arrays (so the
`Embedding` can be saved with ``np.savez``): SLIC superpixels, a k-means colour palette,
each superpixel's palette histogram, and the adjacency graph with the shared boundary
length and the colour contrast across it. A click then works on a few thousand regions
instead of hundreds of thousands of pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.segment.classic.superpixels import slic

PALETTE_SIZE = 48
MAX_SUPERPIXELS = 12000
MIN_STEP = 7


@dataclass
class RegionGraph:
    """The superpixel graph of one working-resolution frame (h×w).

    labels: h×w int32 superpixel id per pixel, ids 0..n-1.
    lab: h×w×3 uint8 OpenCV Lab image (L, a, b scaled to 0..255).
    colour_index: h×w uint8 palette index per pixel (0..P-1).
    palette: P×3 float32 Lab (OpenCV 8-bit scaling) palette colours.
    hist: n×P float32 palette histogram per superpixel (pixel counts).
    size: n float32 pixels per superpixel.
    centroid: n×2 float32 (x, y) mean pixel position.
    mean_lab: n×3 float32 mean Lab colour.
    bbox: n×4 int32 (x0, y0, x1, y1) pixel extent, x1/y1 exclusive.
    border: n float32 pixels on the frame edge.
    edges: e×2 int32 adjacent pairs (i < j).
    edge_length: e float32 number of 4-neighbour pixel pairs across the boundary.
    edge_contrast: e float32 mean squared Lab difference across the boundary.
    neighbours: n×D int32 adjacent region ids, padded with -1.
    """

    labels: np.ndarray
    lab: np.ndarray
    colour_index: np.ndarray
    palette: np.ndarray
    hist: np.ndarray
    size: np.ndarray
    centroid: np.ndarray
    mean_lab: np.ndarray
    bbox: np.ndarray
    border: np.ndarray
    edges: np.ndarray
    edge_length: np.ndarray
    edge_contrast: np.ndarray
    neighbours: np.ndarray

    @property
    def count(self) -> int:
        return int(self.size.shape[0])

    def component(self, keep: np.ndarray, region: int) -> np.ndarray:
        """n bool: the regions of ``keep`` (n bool) connected to ``region`` through
        regions of ``keep``."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        i, j = self.edges[:, 0], self.edges[:, 1]
        both = keep[i] & keep[j]
        n = self.count
        adjacency = coo_matrix((np.ones(int(both.sum()), np.int8), (i[both], j[both])), shape=(n, n))
        _, label = connected_components(adjacency, directed=False)
        return (label == label[region]) & keep

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> RegionGraph:
        return cls(**{name: np.asarray(arrays[name]) for name in cls.__dataclass_fields__})


def superpixel_step(height: int, width: int) -> int:
    """Grid step: fine (≥ `MIN_STEP` px) but at most `MAX_SUPERPIXELS` regions."""
    return max(MIN_STEP, int(np.ceil(np.sqrt(height * width / MAX_SUPERPIXELS))))


def build_region_graph(rgb: np.ndarray) -> RegionGraph:
    """Superpixels, palette and adjacency of ``rgb`` (h×w×3 uint8, working resolution)."""
    import cv2

    height, width = rgb.shape[:2]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    # Float Lab (L in 0..100) for SLIC, lightly smoothed so JPEG noise does not fray edges.
    lab_f = cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)
    lab_f = cv2.GaussianBlur(lab_f, (3, 3), 0)
    labels = slic(lab_f, superpixel_step(height, width), compactness=5.0)
    count = int(labels.max()) + 1
    flat = labels.ravel()

    palette, colour_index = _palette(lab)
    hist = np.bincount(
        flat * PALETTE_SIZE + colour_index.ravel(), minlength=count * PALETTE_SIZE
    ).reshape(count, PALETTE_SIZE).astype(np.float32)
    size = np.bincount(flat, minlength=count).astype(np.float32)
    ys, xs = np.indices((height, width), dtype=np.float32)
    centroid = np.stack(
        [np.bincount(flat, xs.ravel(), count), np.bincount(flat, ys.ravel(), count)], axis=1
    ) / size[:, None]
    lab32 = lab.reshape(-1, 3).astype(np.float32)
    mean_lab = np.stack([np.bincount(flat, lab32[:, k], count) for k in range(3)], axis=1) / size[:, None]
    bbox = _bboxes(labels, count)
    edge_mask = np.zeros((height, width), bool)
    edge_mask[0, :] = edge_mask[-1, :] = edge_mask[:, 0] = edge_mask[:, -1] = True
    border = np.bincount(labels[edge_mask], minlength=count).astype(np.float32)
    edges, edge_length, edge_contrast = _adjacency(labels, lab32.reshape(height, width, 3), count)
    return RegionGraph(
        labels=labels,
        lab=lab,
        colour_index=colour_index,
        palette=palette,
        hist=hist,
        size=size,
        centroid=centroid.astype(np.float32),
        mean_lab=mean_lab.astype(np.float32),
        bbox=bbox,
        border=border,
        edges=edges,
        edge_length=edge_length,
        edge_contrast=edge_contrast,
        neighbours=neighbour_table(edges, count),
    )


def _palette(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P×3 float32 palette, h×w uint8 index): k-means on a pixel sample, nearest colour."""
    import cv2

    pixels = lab.reshape(-1, 3).astype(np.float32)
    rng = np.random.default_rng(0)
    sample = pixels[rng.choice(len(pixels), size=min(len(pixels), 20000), replace=False)]
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    k = min(PALETTE_SIZE, len(sample))
    _, _, centres = cv2.kmeans(sample, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    palette = np.zeros((PALETTE_SIZE, 3), np.float32)
    palette[:k] = centres
    palette[k:] = 1e4  # unused slots never win the nearest-colour search
    # Nearest palette colour through a 32³ lookup table of Lab cells: exact up to the
    # cell size (8 levels), and 10× cheaper than comparing every pixel with every colour.
    cells = (np.stack(np.meshgrid(*[np.arange(32)] * 3, indexing="ij"), -1).reshape(-1, 3) * 8 + 4).astype(np.float32)
    score = cells @ (-2 * palette.T) + (palette * palette).sum(1)[None]
    table = np.argmin(score, axis=1).astype(np.uint8)
    q = lab >> 3
    index = table[(q[..., 0].astype(np.int32) << 10) | (q[..., 1].astype(np.int32) << 5) | q[..., 2]]
    return palette, index


def _bboxes(labels: np.ndarray, count: int) -> np.ndarray:
    height, width = labels.shape
    flat = labels.ravel()
    xs = np.tile(np.arange(width, dtype=np.int32), height)
    ys = np.repeat(np.arange(height, dtype=np.int32), width)
    box = np.empty((count, 4), np.int32)
    # Sort once and reduce per run of equal labels (every label has at least one pixel).
    order = np.argsort(flat, kind="stable")
    starts = np.searchsorted(flat[order], np.arange(count))
    box[:, 0] = np.minimum.reduceat(xs[order], starts)
    box[:, 1] = np.minimum.reduceat(ys[order], starts)
    box[:, 2] = np.maximum.reduceat(xs[order], starts) + 1
    box[:, 3] = np.maximum.reduceat(ys[order], starts) + 1
    return box


def _adjacency(labels: np.ndarray, lab: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjacent superpixel pairs, boundary length and mean squared Lab step across it."""
    a_parts, b_parts, d_parts = [], [], []
    for sl_a, sl_b in (
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
        ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
    ):
        la, lb = labels[sl_a], labels[sl_b]
        cross = la != lb
        diff = lab[sl_a][cross] - lab[sl_b][cross]
        a_parts.append(la[cross])
        b_parts.append(lb[cross])
        d_parts.append((diff * diff).sum(axis=1))
    a = np.concatenate(a_parts).astype(np.int64)
    b = np.concatenate(b_parts).astype(np.int64)
    d = np.concatenate(d_parts)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * count + hi
    unique, inverse, length = np.unique(key, return_inverse=True, return_counts=True)
    contrast = np.bincount(inverse, d, len(unique)) / length
    edges = np.stack([unique // count, unique % count], axis=1).astype(np.int32)
    return edges, length.astype(np.float32), contrast.astype(np.float32)


def neighbour_table(edges: np.ndarray, count: int) -> np.ndarray:
    """n×D int32 ids of each region's neighbours, padded with -1 (D = max degree)."""
    a = np.concatenate([edges[:, 0], edges[:, 1]])
    b = np.concatenate([edges[:, 1], edges[:, 0]])
    order = np.argsort(a, kind="stable")
    a, b = a[order], b[order]
    degree = np.bincount(a, minlength=count)
    width = int(degree.max()) if len(degree) else 0
    start = np.concatenate([[0], np.cumsum(degree)[:-1]])
    slot = np.arange(len(a)) - start[a]
    table = np.full((count, max(width, 1)), -1, np.int32)
    table[a, slot] = b
    return table
