"""Error dialogs that do not block the event loop (the editor thread keeps running and tests
can find and close them), and the folder question of File → Export."""

from __future__ import annotations

import os
import tkinter as tk
from pathlib import Path
from tkinter import filedialog, ttk

TITLE = "framewise: error"


class ErrorDialog(tk.Toplevel):
    """A small window with the reason and an OK button (Enter or Escape close it)."""

    def __init__(self, master, text: str, title: str = TITLE) -> None:
        super().__init__(master)
        self.title(title)
        self.text = text
        self.resizable(False, False)
        if master is not None and master.winfo_viewable():
            self.transient(master)
        body = ttk.Frame(self, padding=14)
        body.pack(fill="both", expand=True)
        ttk.Label(body, text=text, wraplength=420, justify="left").pack(anchor="w", pady=(0, 12))
        self.ok = ttk.Button(body, text="OK", command=self.destroy)
        self.ok.pack(anchor="e")
        self.bind("<Return>", lambda e: self.destroy())
        self.bind("<Escape>", lambda e: self.destroy())
        self.ok.focus_set()


def show_startup_error(text: str) -> bool:
    """Show ``text`` in a window of its own and wait until it is closed; False when no
    window can be opened (no display)."""
    try:
        root = tk.Tk()
    except tk.TclError:
        return False
    root.withdraw()
    dialog = ErrorDialog(root, text)
    dialog.protocol("WM_DELETE_WINDOW", dialog.destroy)
    dialog.bind("<Destroy>", lambda e: root.quit() if e.widget is dialog else None)
    root.mainloop()
    root.destroy()
    return True


class FolderDialog(tk.Toplevel):
    """Asks for a folder in one step: the path typed (a folder that does not exist yet is
    made by the export) or chosen with Browse…; Enter or the OK button takes it, Escape or
    Cancel gives up. Tk's own directory dialog wants a new folder confirmed twice.

    ``result``: the absolute path taken, None when cancelled.
    """

    def __init__(self, master: tk.Misc, title: str, prompt: str, initial: str, ok_text: str = "OK") -> None:
        super().__init__(master)
        self.title(title)
        self.result: str | None = None
        if master.winfo_viewable():
            self.transient(master.winfo_toplevel())
        body = ttk.Frame(self, padding=14)
        body.pack(fill="both", expand=True)
        ttk.Label(body, text=prompt, wraplength=520, justify="left").pack(anchor="w", pady=(0, 6))
        row = ttk.Frame(body)
        row.pack(fill="x")
        self.path = tk.StringVar(value=initial)
        self.entry = ttk.Entry(row, textvariable=self.path, width=60)
        self.entry.pack(side="left", fill="x", expand=True)
        self.browse_button = ttk.Button(row, text="Browse…", command=self._browse)
        self.browse_button.pack(side="left", padx=(6, 0))
        buttons = ttk.Frame(body)
        buttons.pack(fill="x", pady=(12, 0))
        self.cancel_button = ttk.Button(buttons, text="Cancel", command=self.destroy)
        self.cancel_button.pack(side="right")
        self.ok_button = ttk.Button(buttons, text=ok_text, command=self._take, default="active")
        self.ok_button.pack(side="right", padx=(0, 6))
        self.bind("<Return>", lambda e: self._take())
        self.bind("<KP_Enter>", lambda e: self._take())
        self.bind("<Escape>", lambda e: self.destroy())
        self.entry.selection_range(0, "end")  # typing replaces the suggestion
        self.entry.icursor("end")
        self.entry.focus_set()

    def _take(self) -> None:
        text = self.path.get().strip()
        if not text:
            self.bell()
            return
        self.result = os.path.abspath(os.path.expanduser(text))
        self.destroy()

    def _browse(self) -> None:
        start = Path(os.path.abspath(os.path.expanduser(self.path.get().strip() or ".")))
        while not start.is_dir() and start != start.parent:  # the nearest folder that exists
            start = start.parent
        chosen = filedialog.askdirectory(parent=self, title=self.title(), initialdir=str(start), mustexist=False)
        if chosen:
            self.path.set(chosen)
        self.entry.focus_set()


def ask_folder(master: tk.Misc, title: str, prompt: str, initial: str, ok_text: str = "OK") -> str | None:
    """Show a `FolderDialog` and wait until it closes (the event loop runs meanwhile): the
    absolute folder path taken, or None."""
    dialog = FolderDialog(master, title, prompt, initial, ok_text)
    dialog.wait_window()
    return dialog.result
