"""The track panel's rows, kept up to date from the frames that changed, never the whole media.

`TrackReader` reads every label's (object, frame, source, review) once when a media
opens; after that it re-reads only the frames the `ui.marks.MarkTracker` was told changed
(the Editor's events, the frames a background propagation run wrote), and rebuilds the
runs of the objects found on those frames only. During a run on a 10,000-label project a
seek costs the editor thread a read of the few frames written since the last one, not
10,000 rows turned into runs in pure Python: that held the GIL for about 20 ms per seek
and stalled the Tk thread (`benchmarks/ui_stall.py`, session ``propagation_10k``).

Each object's row is a uint8 array over the frames (0: no label, else its kind's
priority); an unchanged object keeps its very list of runs, so the panel redraws nothing
for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.types import LabelSource
from ui.marks import TouchedFrames, frame_runs

Run = tuple[int, int, str]  # first frame, last frame (inclusive), kind
TrackRow = tuple[int, int, str, bool]  # object id, frame, source, review

KIND_CODES = {"propagated": 1, "interpolated": 2, "confirmed": 3, "flagged": 4}  # as `track_panel.PRIORITY`
CODE_KINDS = {code: kind for kind, code in KIND_CODES.items()}


def track_kind(source: str, review: bool) -> str:
    """The panel's kind of one label: flagged wins, then its source."""
    if review:
        return "flagged"
    if source == LabelSource.PROPAGATED:
        return "propagated"
    if source == LabelSource.INTERPOLATED:
        return "interpolated"
    return "confirmed"


def read_rows(store: Any, media: str, first: int | None = None, last: int | None = None) -> list[TrackRow]:
    """(object, frame, source, review) of the labels of ``media`` on frames ``first`` to
    ``last`` (inclusive; None: unbounded): the store's shape-free ``label_tracks``, else
    read from its labels."""
    query = getattr(store, "label_tracks", None)
    if callable(query):
        return query(media) if first is None and last is None else query(media, first, last)
    labels = store.labels(media, first) if first is not None and first == last else store.labels(media)
    return [
        (label.object_id, label.frame_index, str(label.source), label.review)
        for label in labels
        if (first is None or label.frame_index >= first) and (last is None or label.frame_index <= last)
    ]


def row_runs(codes: np.ndarray) -> list[Run]:
    """One object's row (uint8 kind code per frame) as runs of consecutive frames of one kind."""
    edges = np.flatnonzero(np.diff(codes, prepend=0, append=0))
    return [(int(a), int(b) - 1, CODE_KINDS[int(codes[a])]) for a, b in zip(edges[:-1], edges[1:]) if codes[a]]


class TrackReader:
    """The rows of the open media's track panel (use on the editor thread only).

    touched: the frames changed since the last read (`MarkTracker.follow`).
    """

    def __init__(self, touched: TouchedFrames) -> None:
        self._touched = touched
        self._media: str | None = None
        self._count = 0
        self._codes: dict[int, np.ndarray] = {}  # object id -> kind code per frame
        self._runs: dict[int, list[Run]] = {}
        self.rows_read = 0  # label rows read since the reader was made (tests, benchmark)

    def read(self, editor: Any) -> tuple[dict[int, list[Run]], dict[int, str]]:
        """(runs per object id, ascending; display names) of the open media."""

        store, media, count = editor.store, editor.media_name, len(editor.source)
        frames = self._touched.take()
        try:
            if frames is None or media != self._media or count != self._count:
                spans: list[tuple[int | None, int | None]] = [(None, None)]
                self._media, self._count, self._codes = media, count, {}
            else:
                spans = [(first, last) for first, last in frame_runs(f for f in frames if 0 <= f < count)]
            changed: set[int] = set()
            for first, last in spans:
                rows = read_rows(store, media, first, last)
                self.rows_read += len(rows)
                if first is not None and last is not None:
                    for object_id, codes in self._codes.items():  # labels gone from these frames
                        if codes[first : last + 1].any():
                            codes[first : last + 1] = 0
                            changed.add(object_id)
                for object_id, frame, source, review in rows:
                    if 0 <= frame < count:
                        if object_id not in self._codes:
                            self._codes[object_id] = np.zeros(count, np.uint8)
                        self._codes[object_id][frame] = KIND_CODES[track_kind(source, review)]
                        changed.add(object_id)
        except BaseException:
            self._media = None  # half read: the next read reads the whole media again
            raise
        if spans == [(None, None)]:
            self._runs = {}
        for object_id in changed:
            runs = row_runs(self._codes[object_id])
            if runs:
                self._runs[object_id] = runs
            else:
                self._runs.pop(object_id, None)
                del self._codes[object_id]
        objects = getattr(store, "objects", None)
        names = {record.object_id: record.name for record in objects(media)} if callable(objects) else {}
        return dict(sorted(self._runs.items())), {k: v for k, v in names.items() if v}
