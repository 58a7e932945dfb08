"""The error hierarchy: every failure a user can cause is one of these.

The CLI turns any `FramewiseError` into one line on stderr and a non-zero exit;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class FramewiseError(Exception):
    """Base of all errors caused by input (files, arguments, prompts)."""


class MediaError(FramewiseError):
    """Media that cannot be opened or decoded: missing, unknown format, corrupt."""


class FrameIndexError(MediaError, IndexError):
    """A frame index outside ``[0, len(source))``."""


class FrameTimeoutError(MediaError, TimeoutError):
    """A frame or embedding that did not come within the caller's timeout (a stalled decoder)."""


class CheckpointError(FramewiseError):
    """A SAM checkpoint that is missing, truncated, or not a SAM state dict."""


class ExtraMissingError(FramewiseError):
    """An optional extra a command needs is not installed (the sam backend without torch)."""


class PromptError(FramewiseError, ValueError):
    """A prompt that cannot be segmented: point outside the frame, empty box, no prompt."""


class OntologyError(FramewiseError, ValueError):
    """A malformed ontology: duplicate names, unknown shape types, bad colours."""


class EditorStateError(FramewiseError, RuntimeError):
    """An Editor call made in the wrong state (apply with no proposal, no media open…)."""


class SessionFormatError(FramewiseError):
    """A session, import or project file that does not follow its format."""


class ExportError(FramewiseError):
    """An export that cannot be written."""


class ProjectError(FramewiseError):
    """A project folder that cannot be used: missing, not a project, from a newer version."""


class ExecutorError(FramewiseError):
    """A batch executor that cannot run: Ray missing, a cluster unreachable, workers that cannot start."""


class FormatWarning(UserWarning):
    """Something an import or export could not carry exactly (a lossy conversion, with a
    count); issued with `warnings.warn`, printed by the CLI as ``framewise: warning: …``."""
