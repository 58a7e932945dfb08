"""Content fingerprints of media (cache keys, session checks), `MediaInfo` of an open
source, and `media_stem`, the file-system-safe name of a media."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path, PurePosixPath

from engine.errors import MediaError
from engine.media import images as media_image
from engine.media.source import IMAGE_EXTENSIONS, FrameSource
from engine.types import MediaInfo

# -- fingerprint ---------------------------------------------------------------------------
_CHUNK = 1 << 20  # 1 MiB read at the head and tail of a file
_SAMPLE = 64 << 10  # 64 KiB read at evenly spaced offsets in between
_SAMPLES = 16


def _hash_file(h: hashlib._Hash, path: Path) -> None:
    size = path.stat().st_size
    h.update(f"{size}\0".encode())
    with open(path, "rb") as fh:
        if size <= 2 * _CHUNK + _SAMPLES * _SAMPLE:
            h.update(fh.read())
            return
        h.update(fh.read(_CHUNK))
        for k in range(1, _SAMPLES + 1):
            fh.seek(size * k // (_SAMPLES + 1))
            h.update(fh.read(_SAMPLE))
        fh.seek(size - _CHUNK)
        h.update(fh.read(_CHUNK))


def media_fingerprint(path: Path | str) -> str:
    """A fast content hash for cache keys (hex sha256), independent of the file's name.

    A file: its size, first and last MiB and 16 sampled 64 KiB chunks (whole file when
    small), so a re-encoded or edited file gets a new key while renaming keeps it.
    A folder or glob pattern: the sorted image names and sizes, plus the sampled content
    of the first, middle and last image. Reads at most a few MiB whatever the size.
    """
    text = os.fspath(path)
    p = Path(text).expanduser()
    h = hashlib.sha256()
    try:
        if p.is_file():
            h.update(b"file\0")
            _hash_file(h, p)
            return h.hexdigest()
        if p.is_dir() or (not p.exists() and media_image.is_glob_pattern(text)):
            files = media_image.list_image_files(p if p.is_dir() else text)
            h.update(b"sequence\0")
            for f in files:
                h.update(f"{f.name}\0{f.stat().st_size}\0".encode())
            # dict, not set: a set of paths iterates in a per-process hash order
            for f in dict.fromkeys([files[0], files[len(files) // 2], files[-1]]):
                _hash_file(h, f)
            return h.hexdigest()
    except OSError as exc:
        raise MediaError(f"{p}: cannot read for fingerprinting: {exc}") from exc
    raise MediaError(f"{p}: no such file or folder")


def media_info(source: FrameSource, name: str | None = None) -> MediaInfo:
    """The `MediaInfo` of an open source (fingerprints its content: reads a few MiB)."""
    files = getattr(source, "files", None)
    width, height = source.size
    return MediaInfo(
        name=str(name if name is not None else source.path),
        fingerprint=media_fingerprint(source.path),
        width=int(width),
        height=int(height),
        frames=len(source),
        fps=float(source.fps),
        timestamps=tuple(float(t) for t in source.timestamps),
        frame_names=tuple(f.name for f in files) if files else (),
    )


# -- names ---------------------------------------------------------------------------------
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def media_stem(media: MediaInfo | str | Path) -> str:
    """A file-system-safe stem for a media: an export's folder or file name, and the
    project folder `framewise prelabel` makes for it.

    Videos and stills lose their suffix (``clips/a.mp4`` -> ``a``); image folders keep
    their folder name (``shots/take.2`` -> ``take.2``); a glob uses its folder's name
    (``shots/*.png`` -> ``shots``). Runs of characters outside ``[A-Za-z0-9._-]`` become
    one ``_``, leading and trailing dots go, so the stem is never empty, ``.`` or ``..``
    (``media`` then) and cannot leave the folder it is joined to.

    media: a `MediaInfo` (an image sequence is one with ``frame_names`` whose name is not
        an image file; no file-system access) or a path as given on the command line (a
        folder, an existing file, or else a glob pattern).
    """
    if isinstance(media, MediaInfo):
        text = media.name.replace("\\", "/").rstrip("/")
        name = PurePosixPath(text).name
        glob = bool(media.frame_names) and media_image.is_glob_pattern(name)
        sequence = glob or (bool(media.frame_names) and PurePosixPath(name).suffix.lower() not in IMAGE_EXTENSIONS)
    else:
        raw = os.fspath(media)
        on_disk = Path(raw).expanduser()
        text = raw.replace("\\", "/").rstrip("/")
        glob = not on_disk.exists() and media_image.is_glob_pattern(PurePosixPath(text).name)
        sequence = glob or on_disk.is_dir()
    path = PurePosixPath(text)
    if glob:
        path = path.parent
    stem = path.name if sequence else path.stem
    return _UNSAFE.sub("_", stem).strip(".") or "media"
