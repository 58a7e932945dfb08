"""Prompt sessions: the versioned JSON record of an event log, its validator, and replay."""
