"""The SAM pop-up: how to use it, live status, the speed/quality slider, Reset and Apply label."""

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

# Slider stops, percent: the quality setting the segmenter gets is value / 100.
QUALITY_STOPS = (20, 40, 60, 80, 100)
QUALITY_NAMES = {20: "Faster", 60: "Default", 100: "Higher quality"}


def snap_quality(percent: float) -> int:
    """The nearest slider stop to ``percent``."""
    return min(QUALITY_STOPS, key=lambda stop: abs(stop - percent))


def quality_text(percent: int) -> str:
    name = QUALITY_NAMES.get(percent)
    return f"{name} {percent}%" if name else f"{percent}%"


class SamPanel(tk.Toplevel):
    """A small tool window beside the main one; shown while SAM mode is on.

    on_quality(q in 0.2…1.0), on_reset(), on_apply() are called on the Tk thread.
    """

    def __init__(
        self,
        master,
        on_quality: Callable[[float], None],
        on_reset: Callable[[], None],
        on_apply: Callable[[], None],
    ) -> None:
        super().__init__(master)
        self.title("SAM · auto-segmentation")
        self.resizable(False, False)
        self.transient(master)
        self.protocol("WM_DELETE_WINDOW", self.withdraw)
        self._on_quality = on_quality
        body = ttk.Frame(self, padding=10)
        body.pack(fill="both", expand=True)
        ttk.Label(body, text="SAM mode", font=("TkDefaultFont", 11, "bold")).pack(anchor="w")
        self.instructions = ttk.Label(body, text=INSTRUCTIONS, justify="left")
        self.instructions.pack(anchor="w", pady=(4, 8))
        self.status = tk.StringVar(value="ready")
        self.status_label = ttk.Label(body, textvariable=self.status, foreground="#1e78ff", wraplength=240)
        self.status_label.pack(anchor="w", pady=(0, 8))
        ttk.Label(body, text="Speed / quality").pack(anchor="w")
        self.quality = tk.IntVar(value=60)
        self.quality_name = tk.StringVar(value=quality_text(60))
        self.slider = tk.Scale(
            body,
            from_=20,
            to=100,
            resolution=20,
            orient="horizontal",
            showvalue=False,
            variable=self.quality,
            command=self._slid,
            length=220,
        )
        self.slider.pack(anchor="w")
        ends = ttk.Frame(body)
        ends.pack(fill="x")
        ttk.Label(ends, text="Faster").pack(side="left")
        ttk.Label(ends, text="Higher quality").pack(side="right")
        ttk.Label(body, textvariable=self.quality_name).pack(anchor="center", pady=(0, 8))
        buttons = ttk.Frame(body)
        buttons.pack(fill="x")
        self.reset_button = ttk.Button(buttons, text="Reset", command=on_reset)
        self.reset_button.pack(side="left")
        self.apply_button = ttk.Button(buttons, text="Apply label", command=on_apply)
        self.apply_button.pack(side="right")
        self._released = True
        self.slider.bind("<ButtonRelease-1>", lambda e: self._commit())
        self._pending: str | None = None  # the `after` id of the pending commit

    def set_status(self, text: str, error: bool = False) -> None:
        self.status.set(text)
        self.status_label.configure(foreground="#c0392b" if error else "#1e78ff")

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
