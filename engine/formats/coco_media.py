"""The images and media of a COCO file: `read_image` and `media` (used by `coco_import`).

Images with ``video`` + ``frame_index`` are frames of that media (``videos`` declares its
frame count, fps and fingerprint). Plain images are grouped by the folder of their
``file_name``: one image-folder media per folder (naturally sorted), named by that folder's
resolved path under the dataset's image root, so the same file reached by a relative or an
absolute path gives the same media; a folder whose images differ in size becomes one
single-image media per image. Label Studio's server paths (``/data/upload/1/a.jpg``) are
read relative to the root; any other absolute path or ``..`` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from engine.formats.inputs import JsonFields, check_frame_size, check_frames, check_id, inside, media_name, safe_relative
from engine.limits import MAX_FRAMES
from engine.media.images import natural_sort_key
from engine.types import MediaInfo

LABEL_STUDIO_PREFIXES = ("/data/upload/", "/data/local-files/")
"""Where Label Studio serves its files from; its COCO export names images by these."""


@dataclass
class CocoImage:
    image_id: int
    file_name: PurePosixPath
    width: int
    height: int
    video: str | None
    frame_index: int | None

    @property
    def video_frame(self) -> int:
        """The frame index of a video's image (`_image` requires one when ``video`` is set)."""
        assert self.frame_index is not None, f"image {self.image_id} of a video without frame_index"
        return self.frame_index


def read_image(top: JsonFields, item: object, where: str) -> CocoImage:
    if not isinstance(item, dict):
        raise top.fail(where, "expected an object")
    image_id = top.get(item, "id", where, int)
    text = top.get(item, "file_name", where, str)
    if text.startswith(LABEL_STUDIO_PREFIXES):  # a Label Studio server path, not a local one
        text = text.partition("?d=")[2] or text.lstrip("/")
    file_name = safe_relative(text, where=f"{top.source}: {where}.file_name")
    width = top.get(item, "width", where, int)
    height = top.get(item, "height", where, int)
    if width <= 0 or height <= 0:
        raise top.fail(f"{where}.width", f"image size {width}x{height} must be positive")
    check_frame_size(width, height, f"{top.source}: {where}.width")
    video = top.get(item, "video", where, str, required=False)
    frame_index = top.get(item, "frame_index", where, int, required=video is not None)
    if frame_index is not None:
        check_id(frame_index, f"{top.source}: {where}.frame_index", high=MAX_FRAMES - 1)
    if video is not None:
        video = media_name(video, where=f"{top.source}: {where}.video")
    return CocoImage(image_id, file_name, width, height, video, frame_index)


def media(
    top: JsonFields, data: dict, images: list[CocoImage], root: Path | None
) -> tuple[list[MediaInfo], dict[int, tuple[str, int]]]:
    """The media and each image id's (media name, frame index)."""
    declared: dict[str, dict] = {}
    if "videos" in data:
        for index, item in enumerate(top.list_of(data, "videos")):
            where = f"videos[{index}]"
            if not isinstance(item, dict):
                raise top.fail(where, "expected an object")
            name = media_name(top.get(item, "name", where, str), where=f"{top.source}: {where}.name")
            for key in ("width", "height", "frames"):
                if top.get(item, key, where, int) <= 0:
                    raise top.fail(f"{where}.{key}", "must be positive")
            check_frame_size(item["width"], item["height"], f"{top.source}: {where}.width")
            check_frames(item["frames"], f"{top.source}: {where}.frames")
            top.number(item.get("fps", 0.0), f"{where}.fps")
            top.get(item, "fingerprint", where, str, required=False)
            declared[name] = item
    groups: dict[str, list[CocoImage]] = {}
    for image in images:
        if image.video is not None:
            groups.setdefault(image.video, []).append(image)
    media: list[MediaInfo] = []
    place: dict[int, tuple[str, int]] = {}
    for name, group in groups.items():
        info = _video_media(top, name, group, declared.get(name))
        media.append(info)
        place.update({image.image_id: (name, image.video_frame) for image in group})
    loose = [image for image in images if image.video is None]
    for info, frames in _folder_media(top, loose, root):
        media.append(info)
        place.update({image.image_id: (info.name, k) for k, image in enumerate(frames)})
    order = {name: index for index, name in enumerate(declared)}
    media.sort(key=lambda info: order.get(info.name, len(order)))
    return media, place


def _video_media(top: JsonFields, name: str, group: list[CocoImage], declared: dict | None) -> MediaInfo:
    width, height = group[0].width, group[0].height
    frames_seen: dict[int, CocoImage] = {}
    for image in group:
        if (image.width, image.height) != (width, height):
            raise top.fail(f"image {image.image_id}", f"size differs from the other frames of {name!r}")
        if image.video_frame in frames_seen:
            raise top.fail(f"image {image.image_id}.frame_index", f"frame {image.frame_index} of {name!r} twice")
        frames_seen[image.video_frame] = image
    frames = max(frames_seen) + 1
    fps, fingerprint = 0.0, ""
    if declared is not None:
        if (declared["width"], declared["height"]) != (width, height):
            raise top.fail(f"videos[{name!r}]", "size differs from its images")
        if declared["frames"] < frames:
            raise top.fail(f"videos[{name!r}].frames", f"{declared['frames']} but an image has frame {frames - 1}")
        frames = declared["frames"]
        fps = float(declared.get("fps", 0.0))
        fingerprint = declared.get("fingerprint", "")
    if frames > MAX_FRAMES:  # the lists below are one entry per frame
        raise top.fail(f"videos[{name!r}].frames", f"{frames} frames is over the limit of {MAX_FRAMES}")
    frame_names: tuple[str, ...] = ()
    if all(k in frames_seen for k in range(frames)):
        basenames = [frames_seen[k].file_name.name for k in range(frames)]
        if basenames != [f"{k:06d}.jpg" for k in range(frames)]:
            frame_names = tuple(basenames)
    return MediaInfo(name, fingerprint, width, height, frames, fps, (), frame_names)


def _folder_media(top: JsonFields, images: list[CocoImage], root: Path | None):
    """Plain COCO images as image-folder media (one per folder, or per image on mixed sizes)."""
    folders: dict[PurePosixPath, list[CocoImage]] = {}
    for image in images:
        folders.setdefault(image.file_name.parent, []).append(image)
    for folder, group in folders.items():
        group.sort(key=lambda image: natural_sort_key(image.file_name.name))
        where = f"images[file_name={group[0].file_name}]"
        folder_name = _path_name(top, root, folder, where)
        if len({(i.width, i.height) for i in group}) == 1 and len({i.file_name for i in group}) == len(group):
            first = group[0]
            names = tuple(image.file_name.name for image in group)
            yield MediaInfo(folder_name, "", first.width, first.height, len(group), 0.0, (), names), group
        else:
            for image in group:
                name = _path_name(top, root, image.file_name, f"images[{image.image_id}]")
                yield MediaInfo(name, "", image.width, image.height, 1, 0.0, (), (image.file_name.name,)), [image]


def _path_name(top: JsonFields, root: Path | None, relative: PurePosixPath, where: str) -> str:
    if root is None:
        return relative.as_posix()
    # the resolved root: the same file by a relative or an absolute path names the same media
    return inside(root.resolve(), relative, where=f"{top.source}: {where}").as_posix()
