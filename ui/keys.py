"""Keyboard shortcuts of the editor window, and focus questions that never raise.

Shortcuts are bound to the main window and to its SAM pop-up (whose instructions list
them), not application-wide: a key typed into a dialog (Export, Open, an error, Rename)
is the dialog's, so typing a path with a ``p`` does not start playback and Enter does not
apply the selection, and Tk's own ``all`` bindings (Tab moves the focus) stay as they are.
Inside the editor's windows a key typed into a text field (the frame box) is text.

Tk's own dialogs (``tk_chooseDirectory``, ``tk_getOpenFile``) are widgets Tkinter does not
know: ``focus_get()`` raises ``KeyError`` while one has the focus and ``event.widget`` is a
plain path string. Everything here works on Tk path names instead.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ui.app import App

# Widget classes where keys are text being typed, not commands.
TEXT_CLASSES = frozenset({"Entry", "TEntry", "Spinbox", "TSpinbox", "Text", "TCombobox"})


def last_focus(widget: tk.Misc) -> str:
    """Path of the widget that has (or, while another window is active, last had) the
    keyboard focus in ``widget``'s toplevel; never raises for widgets Tkinter does not know."""
    return str(widget.tk.call("focus", "-lastfor", widget))


def accepts_shortcut(root: tk.Misc, widget: tk.Misc | str, windows: Iterable[str]) -> bool:
    """Whether a key event that went to ``widget`` (a widget or a Tk path) is a shortcut:
    the widget is in one of the toplevels ``windows`` (Tk paths) and is not a text field."""
    path = str(widget)
    try:
        toplevel = str(root.tk.call("winfo", "toplevel", path))
        widget_class = str(root.tk.call("winfo", "class", path))
    except tk.TclError:  # the window is gone
        return False
    return toplevel in set(windows) and widget_class not in TEXT_CLASSES


def shortcut_table(app: App) -> dict[str, Callable[[], Any]]:
    """Key sequence -> action of the editor."""
    table: dict[str, Callable[[], Any]] = {
        "<Shift-A>": app.toggle_sam,
        "<Return>": app.apply,
        "<KP_Enter>": app.apply,
        "<Escape>": app.reset,
        "<Tab>": app.cycle_candidate,
        "<Left>": lambda: app.step(-1),
        "<Right>": lambda: app.step(1),
        "<Home>": lambda: app.goto(0),
        "<End>": lambda: app.goto(app.frame_count - 1),
        "<Control-z>": app.undo,
        "<Control-Shift-Z>": app.redo,
        "<Control-y>": app.redo,
        "<n>": lambda: app.next_flagged(1),
        "<Shift-N>": lambda: app.next_flagged(-1),
        "<p>": app.toggle_play,
        "<f>": app.view.fit,
    }
    for digit in range(1, 10):
        table[f"<Key-{digit}>"] = partial(app.class_hotkey, digit)
    return table


def bind_shortcuts(app: App) -> None:
    """Bind the editor's shortcuts to its windows (every widget in them carries the window's
    binding tag), never acting on a text field or outside those windows."""
    root = app.root
    windows = (root, app.sam_panel)

    def shortcut(action: Callable[[], Any]) -> Callable[[tk.Event], str | None]:
        def on_key(event: tk.Event) -> str | None:
            if not accepts_shortcut(root, event.widget, [str(window) for window in windows]):
                return None  # a text field: the key is text
            action()
            return "break"

        return on_key

    for sequence, action in shortcut_table(app).items():
        for window in windows:
            window.bind(sequence, shortcut(action))
