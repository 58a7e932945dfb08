"""The SAM panel: which segmenter answers, how to use it, the candidate Tab shows, live
status, the speed/quality slider, Reset and Apply label.

It is a column docked beside the frame canvas (the window shows it while SAM mode is on),
never a window over the frame: it cannot hide objects, and it stays where it is.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

INSTRUCTIONS = (
    "Left click: include point\n"
    "Right click: exclude point\n"
    "Click and drag: box\n"
    "Tab: next candidate mask\n"
    "Enter: apply label · Esc: reset\n"
    "Shift+A: SAM mode on/off"
)

# What the panel says about the segmenter behind the clicks, by the window's backend name.
WEIGHT_FREE_TITLE = "SAM mode · weight-free segmenter"
SAM_TITLE = "SAM mode · SAM checkpoint"
SAM2_TITLE = "SAM mode · SAM 2 checkpoint"
WEIGHT_FREE_NOTE = (
    "No SAM weights are loaded: the built-in weight-free segmenter answers the clicks. "
    "To use SAM, start the editor with --checkpoint PATH (or set FRAMEWISE_SAM_CHECKPOINT) "
    "after pip install 'framewise[sam]'; for SAM 2 / 2.1, --backend sam2 with its checkpoint "
    "(the sam2 extra; see the README)."
)
NO_CANDIDATE = "no selection yet: click or drag a box"

# Slider stops, percent: the quality setting the segmenter gets is value / 100.
QUALITY_STOPS = (20, 40, 60, 80, 100)
QUALITY_NAMES = {20: "Faster", 60: "Default", 100: "Higher quality"}
WIDTH = 250  # pixels of text in the column


def snap_quality(percent: float) -> int:
    """The nearest slider stop to ``percent``."""
    return min(QUALITY_STOPS, key=lambda stop: abs(stop - percent))


def quality_text(percent: int) -> str:
    name = QUALITY_NAMES.get(percent)
    return f"{name} {percent}%" if name else f"{percent}%"


def candidate_text(candidate: int, candidates: int, score: float | None) -> str:
    """What Tab shows: "candidate 2/3 · score 0.87" (``candidate`` counts from 0)."""
    if candidates <= 0:
        return NO_CANDIDATE
    text = f"candidate {candidate + 1}/{candidates}"
    if score is not None:
        text += f" · score {score:.2f}"
    return text + (" · Tab: next" if candidates > 1 else " · the only one")


def is_weight_free(backend: str) -> bool:
    return not backend.lower().startswith("sam")


class SamPanel(ttk.Frame):
    """The column beside the canvas; the window shows it while SAM mode is on.

    backend: the window's backend name ("classic" = weight-free, "sam", "sam2").
    on_quality(q in 0.2…1.0), on_reset(), on_apply() are called on the Tk thread.
    """

    def __init__(
        self,
        master,
        on_quality: Callable[[float], None],
        on_reset: Callable[[], None],
        on_apply: Callable[[], None],
        backend: str = "classic",
    ) -> None:
        super().__init__(master, padding=(10, 8), relief="groove", borderwidth=1)
        self._on_quality = on_quality
        weight_free = is_weight_free(backend)
        # A fixed width (no text is wider): the canvas beside it does not refit as texts change.
        ttk.Frame(self, width=WIDTH + 8, height=1).pack()
        title = WEIGHT_FREE_TITLE if weight_free else SAM2_TITLE if backend.lower() == "sam2" else SAM_TITLE
        self.heading = ttk.Label(self, text=title,
                               font=("TkDefaultFont", 10, "bold"), wraplength=WIDTH)
        self.heading.pack(anchor="w")
        self.note = ttk.Label(self, text=WEIGHT_FREE_NOTE if weight_free else "", wraplength=WIDTH,
                              justify="left", foreground="#555")
        if weight_free:
            self.note.pack(anchor="w", pady=(4, 0))
        self.instructions = ttk.Label(self, text=INSTRUCTIONS, justify="left")
        self.instructions.pack(anchor="w", pady=(8, 8))
        self.candidate = tk.StringVar(value=NO_CANDIDATE)
        self.candidate_label = ttk.Label(self, textvariable=self.candidate, wraplength=WIDTH,
                                         font=("TkDefaultFont", 10, "bold"))
        self.candidate_label.pack(anchor="w")
        self.status = tk.StringVar(value="ready")
        self.status_label = ttk.Label(self, textvariable=self.status, foreground="#1e78ff", wraplength=WIDTH)
        self.status_label.pack(anchor="w", pady=(2, 8))
        ttk.Label(self, text="Speed / quality").pack(anchor="w")
        self.quality = tk.IntVar(value=60)
        self.quality_name = tk.StringVar(value=quality_text(60))
        self.slider = tk.Scale(self, from_=20, to=100, resolution=20, orient="horizontal", showvalue=False,
                               variable=self.quality, command=self._slid, length=WIDTH - 10, takefocus=0)
        self.slider.pack(anchor="w")
        ends = ttk.Frame(self)
        ends.pack(fill="x")
        ttk.Label(ends, text="Faster").pack(side="left")
        ttk.Label(ends, text="Higher quality").pack(side="right")
        ttk.Label(self, textvariable=self.quality_name).pack(anchor="center", pady=(0, 8))
        buttons = ttk.Frame(self)
        buttons.pack(fill="x")
        self.reset_button = ttk.Button(buttons, text="Reset", command=on_reset)
        self.reset_button.pack(side="left")
        self.apply_button = ttk.Button(buttons, text="Apply label", command=on_apply)
        self.apply_button.pack(side="right")
        self.slider.bind("<ButtonRelease-1>", lambda e: self._commit())
        self._pending: str | None = None  # the `after` id of the pending commit

    @property
    def shown(self) -> bool:
        """Whether the column is in the layout (SAM mode on)."""
        return bool(self.winfo_manager())

    def set_status(self, text: str, error: bool = False) -> None:
        self.status.set(text)
        self.status_label.configure(foreground="#c0392b" if error else "#1e78ff")

    def set_candidates(self, candidate: int, candidates: int, score: float | None) -> None:
        """Show which candidate mask is selected and how many there are."""
        self.candidate.set(candidate_text(candidate, candidates, score))

    def set_quality(self, quality: float) -> None:
        """Show ``quality`` (0.2…1.0) without calling back."""
        percent = snap_quality(quality * 100)
        self.quality.set(percent)
        self.quality_name.set(quality_text(percent))

    def _slid(self, value: str) -> None:
        percent = snap_quality(float(value))
        self.quality_name.set(quality_text(percent))
        # Re-segmenting on every motion event would queue stale work; wait for the drag to settle.
        if self._pending is not None:
            self.after_cancel(self._pending)
        self._pending = self.after(150, self._commit)

    def _commit(self) -> None:
        if self._pending is not None:
            self.after_cancel(self._pending)
            self._pending = None
        self._on_quality(snap_quality(self.quality.get()) / 100)
