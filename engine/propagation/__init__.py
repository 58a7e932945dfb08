"""Permanent drawing: carrying objects frame to frame (flow, seeds, re-prompting, checks) and
interpolating between keyframes."""
