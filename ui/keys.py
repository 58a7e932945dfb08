"""Keyboard shortcuts of the editor window, and focus questions that never raise.

Shortcuts are bound to the main window (the SAM panel, which lists them, is part of it),
not application-wide: a key typed into a dialog (Export, Open, an error, Rename)
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

from ui.object_dialogs import ask_delete

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
        "<Delete>": lambda: ask_delete(app),
        "<F1>": app.menus.show_help,
        "<question>": app.menus.show_help,
    }
    for digit in range(1, 10):
        table[f"<Key-{digit}>"] = partial(app.class_hotkey, digit)
    return table


# What each sequence of `shortcut_table` does, for the shortcut sheet (Help → Keyboard
# shortcuts, F1 or ?), which is generated from the table: a sequence missing here is still
# listed, by its action's name.
SHORTCUT_HELP: dict[str, str] = {
    "<Shift-A>": "SAM mode on/off (polygon and bounding-box classes)",
    "<Return>": "apply label: the selection becomes a polygon or a box",
    "<KP_Enter>": "apply label: the selection becomes a polygon or a box",
    "<Escape>": "reset: start the object again",
    "<Tab>": "next candidate mask (the SAM panel shows which)",
    "<Left>": "previous frame",
    "<Right>": "next frame",
    "<Home>": "first frame",
    "<End>": "last frame",
    "<Control-z>": "undo",
    "<Control-Shift-Z>": "redo",
    "<Control-y>": "redo",
    "<n>": "next frame flagged for review",
    "<Shift-N>": "previous frame flagged for review",
    "<p>": "play / pause",
    "<f>": "fit the frame in the view",
    "<Delete>": "delete the selected object: this frame's label or every frame (asks)",
    "<F1>": "this list of shortcuts",
    "<question>": "this list of shortcuts",
    **{f"<Key-{digit}>": "choose a class (its hotkey, else its place in the list)" for digit in range(1, 10)},
}


def bind_shortcuts(app: App) -> None:
    """Bind the editor's shortcuts to its windows (every widget in them carries the window's
    binding tag), never acting on a text field or outside those windows."""
    root = app.root
    windows = (root,)  # the SAM panel is a column of the main window

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
