"""engine.frames.server: the frame server's caches, prefetch scheduling, worker, disk cache, memory."""

from __future__ import annotations

import gc
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.errors import FrameIndexError
from engine.frames.server import FrameServer, window_order
from engine.frames.cache import ByteLRU
from engine.media import FrameSource
from engine.media.open import open_media
from engine.types import Embedding
from tests.shared_data import shared_data

FH, FW = 24, 32  # fake frames: 24×32×3 = 2304 bytes


class FakeSource(FrameSource):
    """``n`` frames whose pixels all equal the frame index (mod 256); counts reads."""

    def __init__(self, path: Path, n: int = 60, delay: float = 0.0) -> None:
        super().__init__(path, kind="video", backend="pyav", num_frames=n, width=FW, height=FH,
                         fps=10.0, timestamps=np.arange(n) / 10.0)
        self.reads: list[int] = []
        self.delay = delay

    def _read(self, index: int) -> np.ndarray:
        self.reads.append(index)
        time.sleep(self.delay)
        return np.full((FH, FW, 3), index % 256, np.uint8)


class FakeSegmenter:
    """Records (frame index, quality, thread) per prepare; sleeps; fails on request."""

    name = "fake"

    def __init__(self, delay: float = 0.0, nbytes: int = 1000, fail_on=(), model: str = "fake-v1") -> None:
        self.model = model
        self.delay = delay
        self.nbytes = nbytes
        self.fail_on = set(fail_on)
        self.calls: list[tuple[int, float, str]] = []
        self.started = threading.Event()

    def prepare(self, frame: np.ndarray, quality: float) -> Embedding:
        index = int(frame[0, 0, 0])
        self.calls.append((index, quality, threading.current_thread().name))
        self.started.set()
        time.sleep(self.delay)
        if index in self.fail_on:
            raise ValueError(f"boom {index}")
        return Embedding(self.name, self.model, quality, frame.shape[:2],
                         {"feat": np.full(self.nbytes // 4, index, np.float32)},
                         {"index": index, "note": "fake", "scale": 0.5})

    def predict(self, embedding, prompt):  # pragma: no cover - not used here
        raise NotImplementedError

    @property
    def frames(self) -> list[int]:
        return [c[0] for c in self.calls]


@pytest.fixture
def media_file(tmp_path) -> Path:
    path = tmp_path / "fake.bin"  # only fingerprinted (disk cache key), never decoded
    path.write_bytes(np.random.default_rng(1).bytes(5000))
    return path


def wait_idle(server: FrameServer, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = server.cache_state()
        if state.queued == 0 and state.in_flight is None:
            return
        time.sleep(0.005)
    raise AssertionError("worker did not go idle")


def test_byte_lru_evicts_least_recently_used_within_budget():
    lru: ByteLRU[str, bytes] = ByteLRU(10, len)
    assert lru.put("a", b"1234") and lru.put("b", b"1234")
    lru.get("a")
    assert lru.put("c", b"1234")  # evicts b, the least recently used
    assert lru.keys() == ["a", "c"] and lru.nbytes == 8 and "b" not in lru
    assert not lru.put("huge", b"x" * 11) and lru.nbytes == 8
    assert lru.discard_where(lambda k: k == "a") == 1 and lru.nbytes == 4


def test_window_order_nearest_first_ahead_before_behind():
    assert window_order(10, 2, 3, 100) == [10, 11, 9, 12, 8, 13]
    assert window_order(0, 2, 2, 100) == [0, 1, 2]
    assert window_order(99, 1, 3, 100) == [99, 98]


def test_frame_cache_bounded_in_bytes_and_frames_read_only(media_file):
    source = FakeSource(media_file)
    budget = 3 * FH * FW * 3 + 100
    with FrameServer(source, frame_cache_bytes=budget, window=(0, 0)) as server:
        for k in range(10):
            frame = server.get_frame(k)
            assert frame[0, 0, 0] == k and not frame.flags.writeable
            state = server.cache_state()
            assert state.frame_bytes <= budget and state.frames_cached <= 3
        assert server.cache_state().frames_cached == 3
        reads = len(source.reads)
        server.get_frame(9), server.get_frame(8), server.get_frame(7)
        assert len(source.reads) == reads  # hits
        server.get_frame(0)
        assert len(source.reads) == reads + 1  # evicted long ago
        with pytest.raises(FrameIndexError):
            server.get_frame(60)


def test_request_frame_calls_back_from_decode_thread(media_file):
    source = FakeSource(media_file)
    with FrameServer(source, window=(0, 0)) as server:
        seen = []
        done = threading.Event()
        future = server.request_frame(5, lambda f: (seen.append((f.result()[0, 0, 0], threading.current_thread().name)), done.set()))
        assert done.wait(5) and future.result()[0, 0, 0] == 5
        assert seen[0][0] == 5 and seen[0][1].startswith("framewise-decode")
        again = server.request_frame(5)
        assert again.done() and again.result() is future.result()


def test_embedding_cache_bounded_in_bytes(media_file):
    seg = FakeSegmenter(nbytes=1000)
    with FrameServer(FakeSource(media_file), seg, embed_cache_bytes=3500, window=(0, 0)) as server:
        for k in range(6):
            assert server.get_embedding(k).arrays["feat"][0] == k
            state = server.cache_state()
            assert state.embedding_bytes <= 3500 and state.embeddings_cached <= 3
        assert [server.has_embedding(k) for k in range(6)] == [False] * 3 + [True] * 3


def test_prefetch_runs_nearest_first_on_the_worker(media_file):
    seg = FakeSegmenter(delay=0.01)
    with FrameServer(FakeSource(media_file), seg, window=(2, 3)) as server:
        server.set_cursor(10)
        wait_idle(server)
        assert seg.frames == [10, 11, 9, 12, 8, 13]
        assert {c[2] for c in seg.calls} == {"framewise-embed"}
        assert all(server.has_embedding(k) for k in range(8, 14))


def test_cursor_jump_drops_stale_queued_work(media_file):
    seg = FakeSegmenter(delay=0.15)
    with FrameServer(FakeSource(media_file), seg, window=(2, 3)) as server:
        server.set_cursor(10)
        assert seg.started.wait(5)
        server.set_cursor(40)  # 10 is in flight and finishes; 11, 9, 12, 8, 13 are dropped
        wait_idle(server)
        assert seg.frames == [10, 40, 41, 39, 42, 38, 43]
        assert server.cache_state().dropped == 5


def test_get_embedding_joins_in_flight_work_instead_of_duplicating(media_file):
    seg = FakeSegmenter(delay=0.3)
    with FrameServer(FakeSource(media_file), seg, window=(0, 0)) as server:
        server.set_cursor(5)
        assert seg.started.wait(5)
        results = []
        threads = [threading.Thread(target=lambda: results.append(server.get_embedding(5))) for _ in range(3)]
        for t in threads:
            t.start()
        results.append(server.get_embedding(5))
        for t in threads:
            t.join()
        assert seg.frames == [5]
        assert all(r is results[0] for r in results)


def test_explicit_request_jumps_the_prefetch_queue(media_file):
    seg = FakeSegmenter(delay=0.05)
    with FrameServer(FakeSource(media_file), seg, window=(0, 6)) as server:
        server.set_cursor(0)
        assert seg.started.wait(5)
        assert server.get_embedding(30).arrays["feat"][0] == 30
        assert seg.frames[:2] == [0, 30]


def test_worker_exception_surfaces_in_future_and_worker_survives(media_file):
    seg = FakeSegmenter(fail_on={3})
    with FrameServer(FakeSource(media_file), seg, window=(0, 0)) as server:
        with pytest.raises(ValueError, match="boom 3"):
            server.request_embedding(3).result(5)
        with pytest.raises(ValueError, match="boom 3"):
            server.get_embedding(3)  # failures are not cached: tried again, fails again
        assert server.get_embedding(4).arrays["feat"][0] == 4
        assert server._worker.is_alive()
        assert server.cache_state().failures == 2
        assert seg.frames == [3, 3, 4]


def test_embedding_callbacks_run_on_the_worker_thread(media_file):
    seg = FakeSegmenter()
    with FrameServer(FakeSource(media_file), seg, window=(0, 0)) as server:
        got = []
        done = threading.Event()
        server.request_embedding(7, lambda f: (got.append(threading.current_thread().name), done.set()))
        assert done.wait(5) and got == ["framewise-embed"]


def test_decoding_does_not_wait_for_embedding_work(media_file):
    seg = FakeSegmenter(delay=1.0)
    with FrameServer(FakeSource(media_file), seg, window=(0, 0)) as server:
        server.request_embedding(0)
        assert seg.started.wait(5)
        start = time.monotonic()
        assert server.get_frame(7)[0, 0, 0] == 7
        assert server.request_frame(8).result(1)[0, 0, 0] == 8
        assert time.monotonic() - start < 0.5


def test_set_quality_rekeys_embeddings(media_file):
    seg = FakeSegmenter()
    with FrameServer(FakeSource(media_file), seg, quality=0.6, window=(0, 0)) as server:
        assert server.get_embedding(1).quality == 0.6
        server.set_quality(0.9)
        assert not server.has_embedding(1)
        assert server.get_embedding(1).quality == 0.9
        assert [(c[0], c[1]) for c in seg.calls] == [(1, 0.6), (1, 0.9)]
        with pytest.raises(ValueError):
            server.set_quality(1.5)


def test_disk_cache_hit_from_a_new_server_and_files_are_not_pickles(media_file, tmp_path):
    cache = tmp_path / "cache"
    seg = FakeSegmenter()
    with FrameServer(FakeSource(media_file), seg, window=(0, 0), disk_cache_dir=cache) as server:
        first = server.get_embedding(2)
    seg2 = FakeSegmenter()
    with FrameServer(FakeSource(media_file), seg2, window=(0, 0), disk_cache_dir=cache) as server:
        again = server.get_embedding(2)
        assert seg2.calls == [] and server.cache_state().disk_hits == 1
    np.testing.assert_array_equal(again.arrays["feat"], first.arrays["feat"])
    assert (again.backend, again.model, again.quality, again.frame_size) == ("fake", "fake-v1", 0.6, (FH, FW))
    assert again.meta == {"index": 2, "note": "fake", "scale": 0.5}
    files = list(cache.rglob("*"))
    npz = [f for f in files if f.is_file()]
    assert len(npz) == 1 and npz[0].suffix == ".npz"  # no temporary files left behind
    with zipfile.ZipFile(npz[0]) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())
    with np.load(npz[0], allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
    # another model or quality is a miss, not a wrong hit
    seg3 = FakeSegmenter(model="fake-v2")
    with FrameServer(FakeSource(media_file), seg3, quality=0.7, window=(0, 0), disk_cache_dir=cache) as server:
        server.get_embedding(2)
        server.set_segmenter(FakeSegmenter(model="fake-v1"))
        server.get_embedding(2)
    assert seg3.frames == [2]


def test_corrupt_disk_cache_file_is_a_miss(media_file, tmp_path):
    cache = tmp_path / "cache"
    with FrameServer(FakeSource(media_file), FakeSegmenter(), window=(0, 0), disk_cache_dir=cache) as server:
        server.get_embedding(4)
    [path] = [f for f in cache.rglob("*.npz")]
    path.write_bytes(b"not a zip")
    seg = FakeSegmenter()
    with FrameServer(FakeSource(media_file), seg, window=(0, 0), disk_cache_dir=cache) as server:
        assert server.get_embedding(4).arrays["feat"][0] == 4
    assert seg.frames == [4]


def test_concurrent_callers_prepare_each_frame_once(media_file):
    seg = FakeSegmenter(delay=0.01)
    with FrameServer(FakeSource(media_file), seg, window=(1, 1)) as server:
        errors = []

        def hammer(offset: int) -> None:
            try:
                for k in range(8):
                    frame_index = (k + offset) % 8
                    server.set_cursor(frame_index)
                    assert server.get_embedding(frame_index).arrays["feat"][0] == frame_index
                    assert server.get_frame(frame_index)[0, 0, 0] == frame_index
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=hammer, args=(o,)) for o in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_idle(server)
        assert not errors
        assert sorted(seg.frames) == sorted(set(seg.frames))  # never twice


def test_close_stops_worker_and_cancels_queued_work(media_file):
    seg = FakeSegmenter(delay=0.2)
    server = FrameServer(FakeSource(media_file), seg, window=(0, 5))
    server.set_cursor(0)
    assert seg.started.wait(5)
    queued = server.request_embedding(30)
    server.close()
    assert not server._worker.is_alive()
    assert queued.cancelled()
    with pytest.raises(RuntimeError):
        server.request_embedding(1)
    server.close()


# -- memory on a real video ---------------------------------------------------------------
def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    return shared_data("videos/01_dog.mp4")  # a real 720p video


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_memory_stays_bounded_paging_a_whole_720p_video(long_video, backend):
    budget_mib = 64
    with open_media(long_video, backend=backend) as source, \
            FrameServer(source, frame_cache_bytes=budget_mib << 20, window=(0, 0)) as server:
        server.get_frame(0)
        gc.collect()
        base = peak = rss_mib()
        for k in range(len(source)):  # sequential paging, as when playing through
            server.get_frame(k)
            if k % 50 == 0:
                peak = max(peak, rss_mib())
        rng = np.random.default_rng(0)
        for n, k in enumerate(rng.integers(0, len(source), 20)):  # random jumps, with pauses
            server.set_cursor(int(k))
            server.get_frame(int(k))
            if n % 5 == 0:
                time.sleep(0.4)  # an idle decord reader would decode ~130 MB of frames here
            peak = max(peak, rss_mib())
        assert server.cache_state().frame_bytes <= budget_mib << 20
    # The frame cache (64 MiB) plus decoder working memory; unbounded decord run-ahead on
    # this clip reaches ~800 MB.
    assert peak - base < budget_mib + 120, f"RSS grew {peak - base:.0f} MiB"


def test_iter_frames_reads_in_one_pass_and_leaves_the_frames_cached():
    """A propagation reads forwards through the server: one sequential pass over the
    source (not one seek per frame), frames already cached are not decoded again, and
    the frames it read are ready to show."""
    from tests.counting_media import CountingSource, moving_square

    frames, _ = moving_square(12)

    class Sequential(CountingSource):
        def __init__(self, frames):
            super().__init__(frames)
            self.runs: list[tuple[int, int]] = []

        def iter_frames(self, start=0, stop=None, step=1):
            self.runs.append((start, stop))
            return super().iter_frames(start, stop, step)

    source = Sequential(frames)
    with FrameServer(source, frame_cache_bytes=1 << 24) as server:
        server.get_frame(5)  # shown before the run: not decoded again
        read = list(server.iter_frames(2, 10))
        assert len(read) == 8 and all(np.array_equal(a, frames[i]) for a, i in zip(read, range(2, 10)))
        assert source.runs == [(2, 5), (6, 10)]
        assert all(source.decodes[i] == 1 for i in range(2, 10)) and 0 not in source.decodes
        assert all(not frame.flags.writeable for frame in read)
        server.get_frame(7)
        assert source.decodes[7] == 1  # cached by the run
        assert list(server.iter_frames(10, 99))[-1].shape == frames[0].shape  # stops at the end
