"""The Editor and what it owns: the selection, the event log, label stores and undo history."""
