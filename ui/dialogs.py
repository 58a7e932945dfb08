"""Error dialogs that do not block the event loop (the editor thread keeps running and tests
can find and close them)."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

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
