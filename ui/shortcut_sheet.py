"""The shortcut sheet (Help → Keyboard shortcuts, F1 or ?): every key of `ui.keys`, listed
from the same table the window binds, so the sheet cannot fall behind the bindings."""

from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable, Mapping
from functools import partial
from tkinter import ttk
from typing import Any

from ui.keys import SHORTCUT_HELP

TITLE = "framewise: keyboard shortcuts"

MODIFIERS = {"Control": "Ctrl", "Shift": "Shift", "Alt": "Alt", "Mod1": "Alt", "Command": "Cmd"}
KEY_NAMES = {
    "Return": "Enter", "KP_Enter": "keypad Enter", "Escape": "Esc", "Tab": "Tab",
    "Left": "←", "Right": "→", "Up": "↑", "Down": "↓", "Prior": "Page Up", "Next": "Page Down",
    "question": "?", "space": "Space", "BackSpace": "Backspace", "Delete": "Delete",
    "plus": "+", "minus": "-", "equal": "=", "comma": ",", "period": ".", "slash": "/",
    "bracketleft": "[", "bracketright": "]",
}
# Pointer gestures on the frame (ui/frame_view.py); they are not key bindings.
MOUSE_ROWS = (
    ("left click", "include point (SAM mode)"),
    ("right click", "exclude point (SAM mode)"),
    ("left drag", "box prompt (SAM mode)"),
    ("wheel", "zoom about the pointer"),
    ("middle drag, Space + left drag", "pan"),
)


def key_text(sequence: str) -> str:
    """A Tk event sequence as a person reads it: "<Control-Shift-Z>" -> "Ctrl+Shift+Z"."""
    parts = [part for part in sequence.strip("<>").split("-") if part not in ("Key", "KeyPress")]
    *modifiers, keysym = parts or [""]
    name = KEY_NAMES.get(keysym, keysym.upper() if len(keysym) == 1 else keysym)
    return "+".join([*(MODIFIERS.get(m, m) for m in modifiers), name])


def action_text(action: Callable[[], Any]) -> str:
    """What an action without a `SHORTCUT_HELP` line is called: its function's name."""
    function = action.func if isinstance(action, partial) else action
    name = getattr(function, "__name__", "")
    return name.strip("_").replace("_", " ") if name and name != "<lambda>" else "(not described)"


def join_keys(names: list[str]) -> str:
    """"1 / 2 / … / 9" reads as "1–9"."""
    if len(names) > 2 and all(n.isdigit() and len(n) == 1 for n in names):
        digits = [int(n) for n in names]
        if digits == list(range(digits[0], digits[-1] + 1)):
            return f"{digits[0]}–{digits[-1]}"
    return " / ".join(names)


def shortcut_rows(table: Mapping[str, Callable[[], Any]], help_text: Mapping[str, str] = SHORTCUT_HELP) -> list[tuple[str, str]]:
    """(keys, what they do) for every sequence of ``table``, in its order; the sequences that
    do the same thing share a row."""
    groups: dict[str, list[str]] = {}
    for sequence, action in table.items():
        groups.setdefault(help_text.get(sequence) or action_text(action), []).append(key_text(sequence))
    return [(join_keys(names), text) for text, names in groups.items()]


class ShortcutSheet(tk.Toplevel):
    """A window listing ``rows`` (keys, action) and the mouse gestures; Esc, Enter, F1 or ?
    close it."""

    def __init__(self, master: tk.Misc, rows: list[tuple[str, str]]) -> None:
        super().__init__(master)
        self.title(TITLE)
        self.rows = rows
        if master.winfo_viewable():
            self.transient(master.winfo_toplevel())
        body = ttk.Frame(self, padding=12)
        body.pack(fill="both", expand=True)
        font = tkfont.nametofont("TkDefaultFont")
        everything = [*rows, *MOUSE_ROWS, ("Keys", "Action")]
        widths = [max(font.measure(row[k]) for row in everything) + 24 for k in (0, 1)]
        self.key_table = self._table(body, "Keyboard (in the main window)", ("Keys", "Action"), rows, widths)
        self.mouse_table = self._table(body, "Mouse (on the frame)", ("Gesture", "Action"), list(MOUSE_ROWS), widths)
        self.close_button = ttk.Button(body, text="Close", command=self.destroy)
        self.close_button.pack(anchor="e", pady=(10, 0))
        for sequence in ("<Escape>", "<Return>", "<KP_Enter>", "<F1>", "<question>"):
            self.bind(sequence, lambda e: self.destroy())
        self.close_button.focus_set()

    def _table(self, master: tk.Misc, heading: str, titles: tuple[str, str], rows: list[tuple[str, str]],
               widths: list[int]) -> ttk.Treeview:
        """A two-column list, each column as wide as its longest text."""
        ttk.Label(master, text=heading, font=("TkDefaultFont", 10, "bold")).pack(anchor="w", pady=(6, 2))
        tree = ttk.Treeview(master, columns=("keys", "action"), show="headings", height=len(rows), selectmode="none")
        tree.heading("keys", text=titles[0], anchor="w")
        tree.heading("action", text=titles[1], anchor="w")
        tree.column("keys", width=widths[0], stretch=False)
        tree.column("action", width=widths[1])
        for keys, text in rows:
            tree.insert("", "end", values=(keys, text))
        tree.pack(fill="x")
        return tree

    def listed(self) -> list[tuple[str, str]]:
        """(keys, action) of every keyboard row as the window shows it."""
        rows = []
        for item in self.key_table.get_children():
            values = self.key_table.item(item, "values")
            rows.append((str(values[0]), str(values[1])))
        return rows
