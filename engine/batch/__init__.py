"""Headless pre-labelling of many media: the per-media job, executors (in process, process pool, Ray)
and the resumable manifest."""
