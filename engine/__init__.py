"""framewise engine: media, frames, segmenters, geometry and the Editor.

Heavy libraries (torch, segment_anything, decord) are imported lazily by the modules
that need them, so importing `engine` is cheap.
"""
