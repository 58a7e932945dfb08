"""Deterministic sample media with ground truth: a synthetic scene of three textured objects.

`render_frame(k)` draws video frame ``k`` and its object-id mask; `write_sample_media(dir)`
writes the bundled ``sample_media/`` (a video, an image folder, a still image, the masks
and ``manifest.json``); `verify_sample_media(dir)` checks a written set against the
renderer. ``tools/make_sample_media.py`` is the command-line front.

The scene: a textured, unevenly lit background; a spotted, shaded ball that moves and
squashes; a striped frame (a rectangle with a hole) that drifts and turns, passing behind
the ball; a veined leaf in front of the frame. Edges are anti-aliased over one pixel; the
ground truth is each pixel's front-most object whose coverage is at least 1/2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.media.images import read_id_mask
from engine.media.open import open_media
from engine.types import ShapeType

SEED = 20240611
VIDEO_SIZE = (640, 360)  # (width, height)
STILL_SIZE = (640, 480)
NUM_FRAMES = 48
FPS = 24
FOLDER_FRAMES = 24  # the image folder holds video frames 0..23
STILL_TIME = 30.0  # the still shows the scene at this (fractional) frame time
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class SampleObject:
    object_id: int
    name: str
    class_name: str
    shape: ShapeType  # the class's shape type
    description: str


OBJECTS = (
    SampleObject(1, "ball", "ball", ShapeType.POLYGON, "orange spotted ball, shaded, moving and squashing"),
    SampleObject(2, "frame", "frame", ShapeType.POLYGON, "blue striped rectangle with a hole, drifting and turning"),
    SampleObject(3, "leaf", "leaf", ShapeType.BOUNDING_BOX, "green veined leaf, slowly moving"),
)
_DEPTH_ORDER = (2, 3, 1)  # back to front


def _noise(
    rng: np.random.Generator, height: int, width: int, cells: tuple[int, int], channels: int = 1
) -> np.ndarray:
    """Smooth noise in [-1, 1]: random values on a coarse grid, cubic-upsampled. H×W×C float32."""
    import cv2

    grid = rng.uniform(-1, 1, (cells[0], cells[1], channels)).astype(np.float32)
    up = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(up.reshape(height, width, channels), -1, 1)


@lru_cache(maxsize=4)
def _textures(seed: int) -> dict[str, np.ndarray]:
    """Object textures (256×256×3 float32 RGB in [0, 1]) in object-local coordinates."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:256, 0:256].astype(np.float32) / 256.0
    fine = _noise(rng, 256, 256, (48, 48))[..., 0]
    ball = np.stack([0.93 + 0.05 * fine, 0.50 + 0.10 * fine, 0.16 + 0.05 * fine], -1)
    spots = _noise(rng, 256, 256, (10, 10))[..., 0] > 0.45
    ball[spots] = (0.62, 0.22, 0.10)
    stripes = 0.5 + 0.5 * np.sin((u * 9 + v * 3) * 2 * np.pi)
    frame = np.stack([0.18 + 0.10 * stripes, 0.34 + 0.16 * stripes, 0.78 - 0.10 * stripes], -1)
    frame += 0.05 * _noise(rng, 256, 256, (32, 32), 3)
    veins = np.abs(np.sin((u - 0.5) * 14 * np.pi + 2.5 * np.abs(v - 0.5) * np.pi)) < 0.18
    leaf = np.stack([0.30 + 0.08 * fine, 0.62 + 0.10 * fine, 0.22 + 0.05 * fine], -1)
    leaf[veins | (np.abs(v - 0.5) < 0.02)] = (0.55, 0.80, 0.40)
    textures = {"ball": ball, "frame": frame, "leaf": leaf}
    return {k: np.clip(t, 0, 1).astype(np.float32) for k, t in textures.items()}


@lru_cache(maxsize=4)
def _background(seed: int, width: int, height: int) -> np.ndarray:
    """H×W×3 float32: warm/cool blotches, a fine grain, faint diagonal bands, a vignette."""
    rng = np.random.default_rng(seed + 1)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    blotch = _noise(rng, height, width, (4, 6), 3)
    grain = _noise(rng, height, width, (height // 6, width // 6), 1)
    base = np.array([0.52, 0.50, 0.45], np.float32) + 0.16 * blotch + 0.05 * grain
    base += 0.04 * np.sin((x + 0.6 * y) / 23.0)[..., None]
    r2 = ((x - width / 2) / width) ** 2 + ((y - height / 2) / height) ** 2
    return np.clip(base * (1.0 - 0.45 * r2)[..., None], 0, 1)


def _local(x: np.ndarray, y: np.ndarray, cx: float, cy: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates in an object's frame: origin (cx, cy), rotated by ``angle`` rad."""
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = x - cx, y - cy
    return c * dx + s * dy, -s * dx + c * dy


def _box_sdf(lx: np.ndarray, ly: np.ndarray, half_w: float, half_h: float) -> np.ndarray:
    qx, qy = np.abs(lx) - half_w, np.abs(ly) - half_h
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0)


def _sample(texture: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Texture at local coordinates scaled to [0, 1) (wrapping). H×W×3 float32."""
    import cv2

    size = texture.shape[0]
    mx = (np.mod(u, 1.0) * size).astype(np.float32)
    my = (np.mod(v, 1.0) * size).astype(np.float32)
    return cv2.remap(texture, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def _objects(t: float, width: int, height: int, x: np.ndarray, y: np.ndarray, tex: dict[str, np.ndarray]):
    """For each object id: (signed distance in px, negative inside; colour H×W×3)."""
    scale = height / 360.0
    out = {}
    # 1 ball: sweeps left to right on a wave; squashes and spins.
    cx = width * (0.16 + 0.65 * t / NUM_FRAMES)
    cy = height * (0.50 + 0.17 * np.sin(t / NUM_FRAMES * 1.6 * np.pi))
    squash = 0.09 * np.sin(t * 0.45)
    a, b = 50 * scale * (1 + squash), 50 * scale * (1 - squash)
    lx, ly = _local(x, y, cx, cy, 0.0)
    rho = np.sqrt((lx / a) ** 2 + (ly / b) ** 2)
    sdf = (rho - 1.0) * min(a, b)
    sx, sy = _local(x, y, cx, cy, 0.07 * t)
    colour = _sample(tex["ball"], sx / (2.4 * a) + 0.5, sy / (2.4 * b) + 0.5)
    # Lit from the upper left: brightness of a sphere whose highlight is off-centre.
    hx, hy = (lx + 0.35 * a) / (1.3 * a), (ly + 0.35 * b) / (1.3 * b)
    light = np.sqrt(np.clip(1 - hx**2 - hy**2, 0, 1))
    out[1] = (sdf, colour * (0.45 + 0.6 * light)[..., None])
    # 2 frame: drifts down-left and turns; a rectangular hole shows the background.
    cx, cy = width * (0.74 - 0.12 * t / NUM_FRAMES), height * (0.30 + 0.36 * t / NUM_FRAMES)
    lx, ly = _local(x, y, cx, cy, np.deg2rad(6 + 0.6 * t))
    outer = _box_sdf(lx, ly, 88 * scale, 60 * scale)
    hole = _box_sdf(lx - 14 * scale, ly + 4 * scale, 36 * scale, 22 * scale)
    sdf = np.maximum(outer, -hole)
    colour = _sample(tex["frame"], lx / (200 * scale), ly / (200 * scale))
    shade = 0.75 + 0.30 * np.clip((lx + ly) / (150 * scale), -1, 1)
    out[2] = (sdf, colour * shade[..., None])
    # 3 leaf: a lens (two overlapping discs), creeping right along the bottom.
    cx, cy = width * (0.30 + 0.10 * t / NUM_FRAMES), height * 0.80
    lx, ly = _local(x, y, cx, cy, np.deg2rad(-18 + 0.3 * t))
    r, d = 58 * scale, 36 * scale
    sdf = np.maximum(np.hypot(lx, ly - d) - r, np.hypot(lx, ly + d) - r)
    colour = _sample(tex["leaf"], lx / (150 * scale) + 0.5, ly / (60 * scale) + 0.5)
    out[3] = (sdf, colour * (0.8 + 0.2 * np.clip(-ly / (20 * scale), -1, 1))[..., None])
    return out


def render_scene(
    t: float, size: tuple[int, int] = VIDEO_SIZE, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """The scene at (fractional) frame time ``t``: (H×W×3 uint8 RGB, H×W uint8 object ids)."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = _background(seed, width, height) * (1.0 + 0.03 * np.sin(t * 0.3))  # slow flicker
    ids = np.zeros((height, width), np.uint8)
    shapes = _objects(t, width, height, x, y, _textures(seed))
    for object_id in _DEPTH_ORDER:
        sdf, colour = shapes[object_id]
        alpha = np.clip(0.5 - sdf, 0, 1)[..., None]
        image = image * (1 - alpha) + np.clip(colour, 0, 1) * alpha
        ids[sdf < 0] = object_id  # coverage >= 1/2 exactly where the distance is negative
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8), ids


def render_frame(frame_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Video frame ``frame_index`` (0..NUM_FRAMES-1) and its mask."""
    return render_scene(float(frame_index), VIDEO_SIZE)


def render_still() -> tuple[np.ndarray, np.ndarray]:
    """The still image (STILL_SIZE, another background) and its mask."""
    return render_scene(STILL_TIME, STILL_SIZE, seed=SEED + 7)


def first_click(mask: np.ndarray) -> tuple[int, int]:
    """(x, y) of the object pixel farthest from the object's boundary (the standard first
    click of simulated interactive segmentation)."""
    import cv2

    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def mask_box(mask: np.ndarray) -> list[int]:
    """``[x0, y0, x1, y1]`` pixel-edge box of a non-empty H×W bool mask (x1, y1 exclusive)."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


README = '''\
# Sample media

Small, deterministic media with exact ground truth, for tests, demos and first-run tries.
Generated by `python tools/make_sample_media.py` (renderer: `engine/demo/samples.py`, seed
20240611); `python tools/make_sample_media.py --check` verifies a copy against the renderer.
Everything here is synthetic (no third-party content).

## Layout

| path | what |
| --- | --- |
| `video.mp4` | 48 frames, 640×360, 24 fps, H.264 (yuv420p, CRF 20, a keyframe every 24 frames) |
| `frames/frame_0.jpg … frame_23.jpg` | video frames 0–23 as JPEG (quality 90); unpadded names, so the folder needs natural sort |
| `still.jpg` | one 640×480 image of the same objects on another background |
| `masks/video/00000.png … 00047.png` | ground truth for video frame *k* (and for `frames/frame_k.jpg`) |
| `masks/still.png` | ground truth for `still.jpg` |
| `manifest.json` | frame counts, sizes, object ids/names/classes, first-click points and boxes |

Masks are 8-bit grayscale PNGs whose pixel value is the object id (0 = background).

## Objects

| id | name / class | shape type | what it does |
| --- | --- | --- | --- |
| 1 | ball | polygon | orange, spotted, shaded like a sphere; sweeps left to right on a wave, squashing and spinning; in front of everything |
| 2 | frame | polygon | blue, striped, a rectangle with a rectangular hole; drifts down-left and turns; the ball passes in front of it |
| 3 | leaf | bounding_box | green lens with veins; creeps right along the bottom |

The background is textured and unevenly lit (warm and cool blotches, grain, faint bands,
vignette, a slow flicker), so colour alone does not separate the objects everywhere.
Edges are anti-aliased over one pixel; a pixel belongs to the front-most object covering
at least half of it.

`manifest.json` → `objects[*].video.click` is the object pixel farthest from its boundary
on its first visible frame (the usual first click of a simulated clicker), and `box` its
`[x0, y0, x1, y1]` pixel-edge box (x1, y1 exclusive); `still` has the same for `still.jpg`.
'''  # noqa: E501 (sample_media/README.md verbatim: --check compares it byte for byte)


def _write_video(path: Path, frames: list[np.ndarray]) -> str:
    import av

    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height = VIDEO_SIZE
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            # Two GOPs so that seeking is exercised; no scene cuts so the GOPs are fixed.
            stream.options = {"crf": "20", "preset": "medium", "threads": "1",
                              "x264-params": f"keyint={FPS}:min-keyint={FPS}:scenecut=0"}
        else:
            stream.codec_context.gop_size = FPS
            stream.options = {"qscale": "3"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return "h264" if codec == "libx264" else "mpeg4"


def _write_png(path: Path, array: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), array, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"cannot write {path}")


def write_sample_media(out_dir: Path | str) -> dict:
    """Write the sample set into ``out_dir`` (created; existing sample files replaced)
    and return the manifest."""
    import cv2

    out = Path(out_dir)
    (out / "frames").mkdir(parents=True, exist_ok=True)
    (out / "masks" / "video").mkdir(parents=True, exist_ok=True)
    for old in (out / "frames").glob("*.jpg"):
        old.unlink()
    frames, masks = zip(*(render_frame(k) for k in range(NUM_FRAMES)))
    codec = _write_video(out / "video.mp4", list(frames))
    for k, (rgb, ids) in enumerate(zip(frames, masks)):
        _write_png(out / "masks" / "video" / f"{k:05d}.png", ids)
        if k < FOLDER_FRAMES:  # unpadded names on purpose: the folder needs natural sort
            jpeg = out / "frames" / f"frame_{k}.jpg"
            cv2.imwrite(str(jpeg), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    still, still_ids = render_still()
    cv2.imwrite(str(out / "still.jpg"), still[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    _write_png(out / "masks" / "still.png", still_ids)
    objects = []
    for obj in OBJECTS:
        visible = [k for k, m in enumerate(masks) if (m == obj.object_id).any()]
        first = masks[visible[0]] == obj.object_id
        objects.append({
            "id": obj.object_id, "name": obj.name, "class": obj.class_name, "description": obj.description,
            "video": {"first_frame": visible[0], "frames_visible": len(visible),
                      "click": list(first_click(first)), "box": mask_box(first)},
            "still": {"click": list(first_click(still_ids == obj.object_id)),
                      "box": mask_box(still_ids == obj.object_id)},
        })
    manifest = {
        "format": "framewise-sample-media", "version": MANIFEST_VERSION,
        "generator": "engine.demo.samples.write_sample_media", "seed": SEED,
        "video": {"path": "video.mp4", "frames": NUM_FRAMES, "fps": FPS, "width": VIDEO_SIZE[0],
                  "height": VIDEO_SIZE[1], "codec": codec, "masks": "masks/video/{frame:05d}.png"},
        "image_folder": {"path": "frames", "frames": FOLDER_FRAMES, "first_video_frame": 0,
                         "pattern": "frames/frame_{frame}.jpg", "masks": "masks/video/{frame:05d}.png"},
        "still": {"path": "still.jpg", "width": STILL_SIZE[0], "height": STILL_SIZE[1],
                  "mask": "masks/still.png"},
        "mask_format": "8-bit grayscale PNG; pixel value = object id, 0 = background",
        "box_format": "[x0, y0, x1, y1] pixel edges, x1/y1 exclusive",
        "classes": [{"name": o.class_name, "shape": o.shape.value} for o in OBJECTS],
        "objects": objects,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out / "README.md").write_text(README)
    return manifest


def load_manifest(sample_dir: Path | str) -> dict:
    return json.loads((Path(sample_dir) / "manifest.json").read_text())


def verify_sample_media(sample_dir: Path | str, tolerance: float = 4.0) -> list[str]:
    """Problems found comparing a written set with the renderer (empty: all good).

    Decoded frames must be within ``tolerance`` mean absolute error (codec loss) of the
    renderer's; masks must match exactly.
    """
    root = Path(sample_dir)
    problems: list[str] = []
    try:
        manifest = load_manifest(root)
    except (OSError, ValueError) as exc:
        return [f"manifest: {exc}"]
    checks = [
        ("video", manifest["video"]["path"], NUM_FRAMES),
        ("image_folder", manifest["image_folder"]["path"], FOLDER_FRAMES),
    ]
    for kind, rel, count in checks:
        with open_media(root / rel) as source:
            if len(source) != count:
                problems.append(f"{rel}: {len(source)} frames, expected {count}")
                continue
            for k, decoded in enumerate(source):
                rgb, ids = render_frame(k)
                err = float(np.abs(decoded.astype(np.int16) - rgb).mean())
                if err > tolerance:
                    problems.append(f"{rel} frame {k}: mean abs error {err:.2f} > {tolerance}")
                mask_path = root / "masks" / "video" / f"{k:05d}.png"
                if kind == "video" and not np.array_equal(read_id_mask(mask_path), ids):
                    problems.append(f"mask of frame {k} differs from the renderer")
    still, still_ids = render_still()
    with open_media(root / manifest["still"]["path"]) as source:
        err = float(np.abs(source.frame(0).astype(np.int16) - still).mean())
        if err > tolerance:
            problems.append(f"still: mean abs error {err:.2f} > {tolerance}")
    if not np.array_equal(read_id_mask(root / manifest["still"]["mask"]), still_ids):
        problems.append("still mask differs from the renderer")
    return problems


def write_sample_corpus(root: Path | str, names: list[str], frames: int = 3,
                        sample_dir: Path | str | None = None) -> tuple[list[str], Path]:
    """A small pre-labelling corpus from the bundled samples (tests, benchmarks): for each
    name an image folder ``root/media/<name>`` of the first ``frames`` sample frames, and
    its first-frame mask ``root/masks/<name>/00000.png`` (object ids). Returns (media, masks)."""
    import shutil

    sample = Path(sample_dir) if sample_dir is not None else Path(__file__).parents[2] / "sample_media"
    root, media = Path(root), []
    masks = root / "masks"
    for name in names:
        folder = root / "media" / name
        folder.mkdir(parents=True)
        for index in range(frames):
            shutil.copy(sample / "frames" / f"frame_{index}.jpg", folder / f"frame_{index}.jpg")
        (masks / name).mkdir(parents=True)
        shutil.copy(sample / "masks" / "video" / "00000.png", masks / name / "00000.png")
        media.append(str(folder))
    return media, masks
