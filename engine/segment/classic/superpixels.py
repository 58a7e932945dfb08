"""SLIC superpixels in plain numpy, vectorised over grid cells.

Each pixel is compared only with the 9 cluster centres of its own and the neighbouring
grid cells (the gSLICr approximation of SLIC's 2S×2S search window), which lets one
iteration be a few broadcasts over an (rows, S, cols, S) view of the image instead of a
Python loop over clusters. Fragments left disconnected by the clustering are merged into
a neighbour so that every superpixel is one 4-connected region.
"""

from __future__ import annotations

import numpy as np

FAR = np.float32(1e12)


def slic(
    lab: np.ndarray,
    step: int,
    *,
    compactness: float = 10.0,
    iterations: int = 5,
    min_size_fraction: float = 0.2,
) -> np.ndarray:
    """Cluster an image into roughly ``step``×``step`` compact colour-coherent regions.

    lab: H×W×3 float32 CIE Lab (L in [0, 100]).
    step: grid spacing S in pixels (≥ 2); about (H/S)·(W/S) superpixels come out.
    compactness: SLIC's m: weight of spatial distance (per S) against Lab distance.
    min_size_fraction: fragments smaller than this × S² are merged into a neighbour.
    Returns H×W int32 labels in [0, n) with every label used and 4-connected.
    """
    height, width = lab.shape[:2]
    step = max(2, int(step))
    rows = max(1, int(round(height / step)))
    cols = max(1, int(round(width / step)))
    # Pad the image up to whole cells; padded pixels are cut off at the end.
    cell_h = -(-height // rows)
    cell_w = -(-width // cols)
    pad_h, pad_w = rows * cell_h, cols * cell_w
    spatial = np.float32(compactness / step)
    features = np.empty((pad_h, pad_w, 5), np.float32)
    features[:height, :width, :3] = lab
    features[:height, :width, 3] = np.arange(height, dtype=np.float32)[:, None] * spatial
    features[:height, :width, 4] = np.arange(width, dtype=np.float32)[None, :] * spatial
    if pad_h > height or pad_w > width:
        features[height:, :, :] = FAR
        features[:, width:, :] = FAR
    blocks = features.reshape(rows, cell_h, cols, cell_w, 5)
    valid = np.zeros((pad_h, pad_w), bool)
    valid[:height, :width] = True

    centres = _initial_centres(blocks, valid.reshape(rows, cell_h, cols, cell_w))
    cell_index = np.arange(rows * cols, dtype=np.int32).reshape(rows, cols)
    pixel_sq = np.einsum("abcdk,abcdk->abcd", blocks, blocks)
    labels = None
    for _ in range(iterations):
        labels = _assign(blocks, pixel_sq, centres, cell_index)
        centres = _update(features, labels.reshape(pad_h, pad_w), valid, centres)
    assert labels is not None
    labels = labels.reshape(pad_h, pad_w)[:height, :width]
    return enforce_connectivity(labels, int(min_size_fraction * step * step))


def _initial_centres(blocks: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """rows×cols×5 centres: each cell's mean feature (centre of mass of its valid pixels)."""
    weight = valid.sum(axis=(1, 3)).astype(np.float32)
    safe = np.where(blocks < FAR, blocks, 0)
    sums = safe.sum(axis=(1, 3))
    centres = sums / np.maximum(weight, 1)[..., None]
    centres[weight == 0] = FAR
    return centres.astype(np.float32)


def _assign(blocks: np.ndarray, pixel_sq: np.ndarray, centres: np.ndarray, cell_index: np.ndarray) -> np.ndarray:
    """Nearest of the 9 surrounding centres for every pixel; rows×S×cols×S int32 ids."""
    rows, cell_h, cols, cell_w, _ = blocks.shape
    padded = np.full((rows + 2, cols + 2, 5), FAR, np.float32)
    padded[1:-1, 1:-1] = centres
    padded_index = np.full((rows + 2, cols + 2), -1, np.int32)
    padded_index[1:-1, 1:-1] = cell_index
    best = np.full((rows, cell_h, cols, cell_w), np.inf, np.float32)
    labels = np.zeros((rows, cell_h, cols, cell_w), np.int32)
    for dy in (0, -1, 1):
        for dx in (0, -1, 1):
            cen = padded[1 + dy : 1 + dy + rows, 1 + dx : 1 + dx + cols]
            # ||p - c||² = ||p||² - 2 p·c + ||c||², with the broadcast over each cell's block.
            cen_sq = np.einsum("abk,abk->ab", cen, cen, dtype=np.float64).astype(np.float32)
            dot = np.einsum("abcdk,ack->abcd", blocks, cen)
            dist = pixel_sq - 2 * dot + cen_sq[:, None, :, None]
            better = dist < best
            np.copyto(best, dist, where=better)
            ids = padded_index[1 + dy : 1 + dy + rows, 1 + dx : 1 + dx + cols]
            np.copyto(labels, np.broadcast_to(ids[:, None, :, None], labels.shape), where=better)
    return labels


def _update(features: np.ndarray, labels: np.ndarray, valid: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Move each centre to the mean of its pixels; centres with no pixels stay put."""
    count_total = centres.shape[0] * centres.shape[1]
    ids = labels[valid]
    counts = np.bincount(ids, minlength=count_total).astype(np.float32)
    flat = features[valid]
    new = np.stack([np.bincount(ids, weights=flat[:, k], minlength=count_total) for k in range(5)], axis=1)
    new = (new / np.maximum(counts, 1)[:, None]).astype(np.float32)
    old = centres.reshape(-1, 5)
    new[counts == 0] = old[counts == 0]
    return new.reshape(centres.shape)


def enforce_connectivity(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Split labels into 4-connected pieces, merge pieces < ``min_size`` into a neighbour.

    labels: H×W int. Returns H×W int32 labels 0..n-1, each one 4-connected region.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    height, width = labels.shape
    index = np.arange(height * width, dtype=np.int32).reshape(height, width)
    same_h = labels[:, 1:] == labels[:, :-1]
    same_v = labels[1:, :] == labels[:-1, :]
    src = np.concatenate([index[:, :-1][same_h], index[:-1, :][same_v]])
    dst = np.concatenate([index[:, 1:][same_h], index[1:, :][same_v]])
    graph = coo_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(height * width,) * 2)
    count, pieces = connected_components(graph, directed=False)
    comp: np.ndarray = pieces.astype(np.int32).reshape(height, width)
    sizes = np.bincount(comp.ravel(), minlength=count)
    small = sizes < min_size
    # Merge small pieces into any adjacent large piece; repeat for pieces that only touch
    # other small ones (they join once a neighbour has been absorbed).
    for _ in range(8):
        if not small[comp].any():
            break
        target = np.arange(count, dtype=np.int32)
        comp_flat = comp.ravel()
        for a, b in ((comp[:, :-1], comp[:, 1:]), (comp[:, 1:], comp[:, :-1]),
                     (comp[:-1, :], comp[1:, :]), (comp[1:, :], comp[:-1, :])):
            take = small[a] & ~small[b]
            target[a[take]] = b[take]
        merged = target != np.arange(count)
        if not merged.any():
            break
        comp = target[comp_flat].reshape(height, width)
        sizes = np.bincount(comp.ravel(), minlength=count)
        small = (sizes < min_size) & (sizes > 0)
    _, comp = np.unique(comp, return_inverse=True)
    return comp.reshape(height, width).astype(np.int32)
