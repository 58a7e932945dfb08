"""The frame server: decoded frames and segmenter embeddings around the cursor.

`FrameServer` keeps a decoded-frame LRU and an embedding LRU, both bounded in bytes, and
computes embeddings (``segmenter.prepare``) in one background worker thread, nearest to
the cursor first, dropping queued work the cursor has left behind.

Threads:
- decoding (``get_frame``, ``request_frame``, frame prefetch) is serialised by its own
  lock and runs on its own executor, so showing a frame never waits on an embedding;
- ``segmenter.prepare`` is only ever called from the embedding worker, so a segmenter
  need not be thread-safe;
- callbacks passed to ``request_frame`` / ``request_embedding`` receive the
  `concurrent.futures.Future` and run in the thread that completes it: a worker thread,
  or the calling thread when the result was already cached. A Tk UI must marshal them
  onto its own thread (``root.after(0, …)``) before touching widgets.
Every public method is thread-safe.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import FrameTimeoutError
from engine.frames.cache import ByteLRU, CacheState, DiskEmbeddingCache
from engine.media import FrameSource
from engine.media.fingerprint import media_fingerprint
from engine.segment.base import Segmenter
from engine.types import QUALITY_DEFAULT, Embedding, check_quality

log = logging.getLogger(__name__)

Callback = Callable[[Future], None]
_Key = tuple[int, float, int]  # (frame index, quality, segmenter generation)


@dataclass(eq=False)
class _Job:
    key: _Key
    segmenter: Segmenter
    explicit: bool  # asked for by a caller (never dropped as stale), not just prefetch
    future: Future = field(default_factory=Future)

    @property
    def frame_index(self) -> int:
        return self.key[0]


def window_order(cursor: int, behind: int, ahead: int, length: int) -> list[int]:
    """Frames around ``cursor`` nearest first, ahead before behind at equal distance:
    ``cursor, cursor+1, cursor-1, cursor+2, …``, clipped to ``[0, length)``."""
    order = [cursor]
    for d in range(1, max(behind, ahead) + 1):
        if d <= ahead and cursor + d < length:
            order.append(cursor + d)
        if d <= behind and cursor - d >= 0:
            order.append(cursor - d)
    return order


class FrameServer:
    """Frames and embeddings of one `FrameSource` for the Editor and the UI.

    source: the media; the caller still owns it (``close()`` here does not close it).
    segmenter: computes embeddings; None serves frames only (see `set_segmenter`).
    quality: in [0.2, 1], passed to ``segmenter.prepare``.
    frame_cache_bytes / embed_cache_bytes: LRU budgets (decoded frames are H·W·3 bytes,
        embeddings `Embedding.nbytes`).
    window: (behind, ahead) frames around the cursor to prefetch (decode and embed).
    disk_cache_dir: also keep embeddings on disk there, keyed by (media fingerprint,
        frame, segmenter name, segmenter model, quality).
    """

    def __init__(
        self,
        source: FrameSource,
        segmenter: Segmenter | None = None,
        quality: float = QUALITY_DEFAULT,
        frame_cache_bytes: int = 256 << 20,
        embed_cache_bytes: int = 512 << 20,
        window: tuple[int, int] = (2, 6),
        disk_cache_dir: Path | str | None = None,
    ) -> None:
        behind, ahead = (int(v) for v in window)
        if behind < 0 or ahead < 0:
            raise ValueError(f"window must be two non-negative counts (behind, ahead), got {window}")
        self.source = source
        self.window = (behind, ahead)
        self._quality = check_quality(quality)
        self._segmenter = segmenter
        self._seg_generation = 0
        self._frames: ByteLRU[int, np.ndarray] = ByteLRU(frame_cache_bytes, lambda a: a.nbytes)
        self._embeds: ByteLRU[_Key, Embedding] = ByteLRU(embed_cache_bytes, lambda e: e.nbytes)
        self._decode_lock = threading.Lock()
        self._decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="framewise-decode")
        self._disk_dir = Path(disk_cache_dir) if disk_cache_dir is not None else None
        self._disk: DiskEmbeddingCache | None = None
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._pending: dict[_Key, _Job] = {}
        self._in_flight: _Job | None = None
        self._cursor: int | None = None
        self._cursor_generation = 0
        self._embed_nbytes: int | None = None  # size of the last embedding, to cap prefetch
        self._closed = False
        self._stats = {"computed": 0, "disk_hits": 0, "failures": 0, "dropped": 0}
        self._worker = threading.Thread(target=self._work, name="framewise-embed", daemon=True)
        self._worker.start()

    # -- frames -----------------------------------------------------------------------
    def get_frame(self, frame_index: int, timeout: float | None = None) -> np.ndarray:
        """Frame ``frame_index``: H×W×3 uint8 RGB, **read-only** (it is the cached array;
        copy it before drawing on it). Decodes on a miss; raises `FrameIndexError`.

        timeout: seconds to wait for the decoder when another decode holds it (a stalled
        decoder); then `FrameTimeoutError`. None waits as long as it takes."""
        index = self.source.check_index(frame_index)
        frame = self._frames.get(index)
        if frame is not None:
            return frame
        if not self._decode_lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            raise FrameTimeoutError(
                f"{self.source.path}: frame {index} not decoded within {timeout:g} s: "
                "the decoder is still busy with another frame (stalled?)")
        try:
            frame = self._frames.get(index)  # decoded while we waited for the lock
            if frame is None:
                frame = self.source.frame(index)
                frame.setflags(write=False)
                self._frames.put(index, frame)
        finally:
            self._decode_lock.release()
        return frame

    def iter_frames(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """Frames ``start … stop − 1`` in order, decoded sequentially (the source's
        `iter_frames`: one keyframe seek per chunk, not one per frame) and kept in the frame
        cache, so a propagation reading them leaves them ready to show. Frames already
        cached are not decoded again. H×W×3 uint8 RGB, read-only. Other decodes (the UI's
        `get_frame`) wait at most one chunk."""
        index, stop = self.source.check_index(start), min(int(stop), len(self.source))
        while index < stop:
            frame = self._frames.get(index)
            if frame is not None:
                yield frame
                index += 1
                continue
            end = index
            while end < stop and end not in self._frames:
                end += 1
            for frame in self.source.iter_frames(index, end):
                frame.setflags(write=False)
                self._frames.put(index, frame)
                yield frame
                index += 1

    def request_frame(self, frame_index: int, callback: Callback | None = None) -> Future:
        """A Future of `get_frame(frame_index)`, decoded on the decode thread."""
        index = self.source.check_index(frame_index)
        self._check_open()
        frame = self._frames.get(index)
        if frame is not None:
            future: Future = Future()
            future.set_result(frame)
        else:
            future = self._decoder.submit(self.get_frame, index)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def _warm_frames(self, generation: int, indices: list[int]) -> None:
        """Decode ``indices`` in ascending order (one forward pass, not one seek each)
        unless the cursor has moved on."""
        for index in sorted(indices):
            if self._closed or generation != self._cursor_generation:
                return
            if index in self._frames:
                continue
            try:
                self.get_frame(index)
            except Exception as exc:  # shown again, with context, when the frame is asked for
                log.debug("prefetch of frame %d failed: %s", index, exc)
                return

    # -- cursor and prefetch -----------------------------------------------------------
    def set_cursor(self, frame_index: int) -> None:
        """Move the cursor: prefetch frames and embeddings in the window around it,
        nearest first; queued prefetch outside the new window is dropped (work already
        running finishes)."""
        index = self.source.check_index(frame_index)
        with self._cond:
            self._check_open()
            self._cursor = index
            self._cursor_generation += 1
            generation = self._cursor_generation
            order = window_order(index, *self.window, len(self.source))
            self._reschedule(order)
        frame_room = max(1, self._frames.capacity_bytes // (2 * max(1, self.source.frame_nbytes)))
        missing = [i for i in order[:frame_room] if i not in self._frames]
        if missing:
            try:
                self._decoder.submit(self._warm_frames, generation, missing)
            except RuntimeError:  # closed meanwhile: nothing left to warm for
                pass

    def _window(self) -> list[int]:
        """The prefetch order around the cursor (empty before the first `set_cursor`)."""
        if self._cursor is None:
            return []
        return window_order(self._cursor, *self.window, len(self.source))

    def _reschedule(self, order: list[int]) -> None:
        """Rebuild the queue: explicit requests first, then prefetch in ``order``."""
        explicit = [job for job in self._queue if job.explicit]
        wanted: list[_Job] = []
        if self._segmenter is not None:
            if self._embed_nbytes:
                room = max(1, self._embeds.capacity_bytes // self._embed_nbytes - 1)
                order = order[:room]  # prefetching more would evict the nearest frames
            for frame_index in reversed(order):  # nearest ends most recently used
                self._embeds.touch(self._key(frame_index))
            for frame_index in order:
                key = self._key(frame_index)
                if key in self._embeds:
                    continue
                job = self._pending.get(key)
                if job is self._in_flight and job is not None:
                    continue
                if job is None:
                    job = _Job(key, self._segmenter, explicit=False)
                    self._pending[key] = job
                if not job.explicit:
                    wanted.append(job)
        keep = {id(job) for job in explicit + wanted}
        for job in self._queue:
            if id(job) not in keep:
                self._pending.pop(job.key, None)
                job.future.cancel()
                self._stats["dropped"] += 1
        self._queue = deque(explicit + wanted)
        self._cond.notify_all()

    # -- embeddings ---------------------------------------------------------------------
    def _key(self, frame_index: int, quality: float | None = None) -> _Key:
        return (frame_index, self._quality if quality is None else quality, self._seg_generation)

    def has_embedding(self, frame_index: int) -> bool:
        """True when frame ``frame_index``'s embedding at the current quality is in memory."""
        return self._key(int(frame_index)) in self._embeds

    def request_embedding(self, frame_index: int, callback: Callback | None = None) -> Future:
        """A Future of frame ``frame_index``'s `Embedding` at the current quality.

        Joins queued or running work for the same frame instead of duplicating it and
        moves it to the front of the queue. Errors from ``prepare`` (or decoding) are
        raised by ``future.result()``. Do not cancel the future: it may be shared.
        """
        index = self.source.check_index(frame_index)
        with self._cond:
            self._check_open()
            if self._segmenter is None:
                raise RuntimeError("this FrameServer has no segmenter; call set_segmenter() first")
            key = self._key(index)
            cached = self._embeds.get(key)
            if cached is not None:
                future: Future = Future()
                future.set_result(cached)
            else:
                job = self._pending.get(key)
                if job is None:
                    job = _Job(key, self._segmenter, explicit=True)
                    self._pending[key] = job
                    self._queue.appendleft(job)
                elif job is not self._in_flight:
                    job.explicit = True
                    self._queue.remove(job)
                    self._queue.appendleft(job)
                job.explicit = True
                future = job.future
                self._cond.notify_all()
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def get_embedding(self, frame_index: int, timeout: float | None = None) -> Embedding:
        """Frame ``frame_index``'s `Embedding` at the current quality, computing it if
        needed (on the worker, ahead of prefetch) and waiting for it: at most ``timeout``
        seconds when given, then `FrameTimeoutError` (the work goes on; ask again later)."""
        if threading.current_thread() is self._worker:
            # Called from a callback on the worker: waiting for the worker would deadlock.
            index = self.source.check_index(frame_index)
            if self._segmenter is None:
                raise RuntimeError("this FrameServer has no segmenter; call set_segmenter() first")
            return self._compute(_Job(self._key(index), self._segmenter, explicit=True))
        future = self.request_embedding(frame_index)
        try:
            return future.result(timeout)
        except TimeoutError as exc:  # (concurrent.futures.TimeoutError is TimeoutError)
            if future.done():  # the segmenter's own TimeoutError: re-raised as it is
                raise
            busy = self._in_flight.frame_index if self._in_flight is not None else None
            raise FrameTimeoutError(
                f"{self.source.path}: the embedding of frame {int(frame_index)} did not come within "
                f"{timeout:g} s (the worker is busy with frame {busy}: a slow segmenter or a stalled decoder)"
            ) from exc

    def set_quality(self, quality: float) -> None:
        """Change the quality for new embeddings; in-memory embeddings of other qualities
        are dropped (disk copies stay) and prefetch restarts around the cursor."""
        q = check_quality(quality)
        with self._cond:
            self._check_open()
            if q == self._quality:
                return
            self._quality = q
            self._embeds.discard_where(lambda key: key[1] != q)
            self._reschedule(self._window())

    @property
    def quality(self) -> float:
        return self._quality

    @property
    def segmenter(self) -> Segmenter | None:
        return self._segmenter

    def set_segmenter(self, segmenter: Segmenter | None) -> None:
        """Swap the segmenter: queued prefetch is dropped, in-memory embeddings too."""
        with self._cond:
            self._check_open()
            self._segmenter = segmenter
            self._seg_generation += 1
            self._embed_nbytes = None
            self._embeds.clear()
            self._reschedule(self._window())

    # -- worker -------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._queue:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
                if not job.future.set_running_or_notify_cancel():
                    self._pending.pop(job.key, None)
                    continue
                self._in_flight = job
            try:
                result = self._compute(job)
            except BaseException as exc:  # noqa: BLE001 - the worker must survive anything
                with self._cond:
                    self._stats["failures"] += 1
                    self._pending.pop(job.key, None)
                    self._in_flight = None
                job.future.set_exception(exc)
            else:
                with self._cond:
                    self._pending.pop(job.key, None)
                    self._in_flight = None
                job.future.set_result(result)

    def _disk_cache(self) -> DiskEmbeddingCache | None:
        if self._disk is None and self._disk_dir is not None:
            self._disk = DiskEmbeddingCache(self._disk_dir, media_fingerprint(self.source.path))
        return self._disk

    def _compute(self, job: _Job) -> Embedding:
        """The embedding for ``job``: memory, then disk, then ``prepare``; cached on the way."""
        cached = self._embeds.get(job.key)
        if cached is not None:
            return cached
        frame_index, quality, _ = job.key
        seg = job.segmenter
        disk = self._disk_cache()
        embedding = disk.load(frame_index, seg.name, seg.model, quality) if disk else None
        if embedding is not None:
            self._stats["disk_hits"] += 1
        else:
            frame = self.get_frame(frame_index)
            embedding = seg.prepare(frame, quality)
            if not isinstance(embedding, Embedding):
                raise TypeError(
                    f"{type(seg).__name__}.prepare returned {type(embedding).__name__}, not Embedding")
            self._stats["computed"] += 1
            if disk is not None:
                try:
                    disk.save(frame_index, embedding)
                except (OSError, TypeError) as exc:  # a full disk must not stop labelling
                    log.warning("cannot cache embedding of frame %d on disk: %s", frame_index, exc)
        self._embed_nbytes = embedding.nbytes or None
        if job.key[2] == self._seg_generation:
            self._embeds.put(job.key, embedding)
        return embedding

    # -- state and lifetime --------------------------------------------------------------
    def cache_state(self) -> CacheState:
        with self._cond:
            return CacheState(
                frames_cached=len(self._frames),
                frame_bytes=self._frames.nbytes,
                frame_budget=self._frames.capacity_bytes,
                embeddings_cached=len(self._embeds),
                embedding_bytes=self._embeds.nbytes,
                embedding_budget=self._embeds.capacity_bytes,
                queued=len(self._queue),
                in_flight=self._in_flight.frame_index if self._in_flight else None,
                cursor=self._cursor,
                quality=self._quality,
                **self._stats,
            )

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this FrameServer is closed")

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the worker (after the embedding in flight, waiting up to ``timeout`` s),
        cancel queued work and free the caches. Idempotent; the source stays open."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            for job in self._queue:
                job.future.cancel()
            self._queue.clear()
            self._pending.clear()
            self._cond.notify_all()
        self._decoder.shutdown(wait=False, cancel_futures=True)
        if threading.current_thread() is not self._worker:
            self._worker.join(timeout)
        self._frames.clear()
        self._embeds.clear()

    def __enter__(self) -> FrameServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
