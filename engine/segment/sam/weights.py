"""Reading a model checkpoint safely: weights-only loading, one-line errors, tensor checks.

Shared by the ``sam`` and ``sam2`` backends (torch only: no segment_anything, no sam2).
Every way a file can be wrong (missing, truncated, not a torch file, pickled objects, not
a state dict, shapes that do not fit together) becomes one `CheckpointError` line naming
the file and what it was read as (``label``: "SAM", "SAM 2").

A weights-only load rebuilds each tensor as a view (size, strides, offset) over a storage
read from the file, and a crafted file can declare a view far larger than its storage
(stride 0 repeats one element): converting or copying it would allocate the declared size
(a 20 MB file asked for 10.7 GB). `check_tensors` refuses such views before anything is
copied, and `check_fit` compares every tensor with the model its shapes describe before
converting or assigning one.
"""

from __future__ import annotations

import hashlib
import os
import pickletools
import re
import zipfile
from collections.abc import Callable, Mapping
from typing import TypeVar

import numpy as np
import torch

from engine.errors import CheckpointError

T = TypeVar("T")

ENCODER = "image_encoder."


def fail(path: str, problem: str, label: str = "SAM") -> CheckpointError:
    """The one-line error for the ``label`` checkpoint at ``path``."""
    return CheckpointError(f"{label} checkpoint {path}: {problem}")


def identify(path: str, state_dict: Mapping[str, torch.Tensor], detect: Callable[[Mapping[str, torch.Tensor]], T],
             label: str, other_key: str, other: str) -> T:
    """``detect(state_dict)`` (a backend's model variant), or one `CheckpointError` line: the
    other backend's checkpoint (it holds ``other_key``: ``other`` says which backend to use),
    a missing tensor, or one that does not read as the backend's."""
    if other_key in state_dict:
        raise fail(path, other, label)
    try:
        return detect(state_dict)
    except KeyError as error:
        raise fail(path, f"is not a {label} state dict (no tensor {error.args[0]!r})", label) from error
    except (ValueError, IndexError, AttributeError) as error:
        raise fail(path, f"is not a usable {label} state dict ({first_line(error)})", label) from error


def first_line(error: BaseException, limit: int = 160) -> str:
    """The first sentence of the error's first line: torch appends paragraphs of advice."""
    text = str(error).strip().splitlines()
    line = (text[0] if text else type(error).__name__).split(". ")[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def read_state_dict(path: str, label: str = "SAM") -> dict[str, torch.Tensor]:
    """The tensors of the ``label`` checkpoint at ``path``, loaded on the CPU without unpickling code,
    in their stored dtypes; each checked by `check_tensors` (none is a view larger than its data)."""
    if not os.path.exists(path):
        raise fail(path, "no such file", label)
    if not os.path.isfile(path):
        raise fail(path, "is not a file", label)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise fail(path, f"cannot be read ({first_line(error)})", label) from error
    except Exception as error:  # torch raises many types here: pickle, zip, EOF, Key, Runtime
        raise fail(path, _load_problem(path, error), label) from error
    tensors = _unwrap(path, loaded, label)
    check_tensors(path, tensors, label)
    return tensors


# What torch's weights-only unpickler names when it refuses a Python object, in the wordings
# of torch 2.4-2.14: "Unsupported global: GLOBAL m.f", "unsupported GLOBAL m.f whose module m
# is blocked", "reduce for unrecognized function f", "new object ... but got <class c>".
_REFUSED_WORDS = (
    ("GLOBAL {}", re.compile(r"\bGLOBAL\s+([\w.]+?)\.?(?:\s|$)")),
    ("a call of {}", re.compile(r"unrecognized function\s+(.+?)(?: which belongs|$)")),
    ("an object of {}", re.compile(r"new object for .*? but got\s+(.+)$")),
)
_PICKLE_SCAN_BYTES = 16 << 20


def _load_problem(path: str, error: Exception) -> str:
    """What a failed ``torch.load(weights_only=True)`` says about the file, in a few words.

    A weights-only refusal is an ``UnpicklingError`` (pickle's; torch re-raises its own as
    that type); what it refused is read from torch's message, or else from the pickle's own
    GLOBAL opcodes (a protocol-4 pickle is refused at its first FRAME, before any GLOBAL)."""
    message = " ".join(str(error).split())
    if any(cls.__name__ == "UnpicklingError" for cls in type(error).__mro__):  # (no pickle import here)
        what = next((form.format(m.group(1)) for form, pattern in _REFUSED_WORDS if (m := pattern.search(message))), None)
        what = what or _first_foreign_global(path)
        if what:
            return (
                f"refused: it holds pickled Python objects ({what[:80]}) that a weights-only load does not "
                "run; framewise loads tensors only"
            )
    if os.path.getsize(path) == 0:
        return "is empty"
    detail = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|$)", message)
    reason = detail.group(1) if detail else f"{type(error).__name__}: {first_line(error)}"
    return f"is truncated or not a torch checkpoint ({reason[:160]})"


def _first_foreign_global(path: str) -> str | None:
    """``GLOBAL module.name`` of the first global the file's pickle names that is not one of
    torch's tensor-rebuilding functions, read with `pickletools` (which runs nothing); None
    when there is none or the file is not a pickle (or a torch zip holding one)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                pickled = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                if pickled is None:
                    return None
                with archive.open(pickled) as member:
                    data = member.read(_PICKLE_SCAN_BYTES)
        else:
            with open(path, "rb") as stream:
                data = stream.read(_PICKLE_SCAN_BYTES)
    except Exception:  # noqa: BLE001 - an unreadable zip (bad, encrypted, zlib errors): nothing to name
        return None
    strings: list[str] = []  # strings pushed so far: STACK_GLOBAL takes the last two
    memo: dict[object, object] = {}
    last: object = None  # what the previous opcode pushed, when a string
    try:
        for opcode, arg, _ in pickletools.genops(data):
            name, found = opcode.name, None
            if name in ("GLOBAL", "INST") and isinstance(arg, str):
                found = arg.replace(" ", ".")
            elif name == "STACK_GLOBAL" and len(strings) >= 2:
                found = f"{strings[-2]}.{strings[-1]}"
            if found and not found.startswith(_TORCH_GLOBALS):
                return f"GLOBAL {found}"
            if name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                memo[len(memo) if arg is None else arg] = last
                continue
            if name in ("GET", "BINGET", "LONG_BINGET"):
                last = memo.get(arg)
            else:
                last = arg if "UNICODE" in name or "STRING" in name else None
            if isinstance(last, str):
                strings.append(last)
    except Exception:  # noqa: BLE001 - a truncated or garbled pickle: what was read so far
        return None
    return None


_TORCH_GLOBALS = ("torch.", "collections.OrderedDict", "collections.Counter", "_codecs.encode", "builtins.set")


_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_LOADABLE_DTYPES = (*_FLOAT_DTYPES, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)


def _bytes(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.1f} MB" if count >= 1e5 else f"{count} bytes"


def _layout_problem(tensor: torch.Tensor) -> str | None:
    """Why ``tensor``'s view does not fit its storage (stride 0 or overlapping strides that
    repeat stored elements, elements beyond the storage, a sparse or exotic dtype), or None."""
    if tensor.layout != torch.strided:
        return f"is a {str(tensor.layout).removeprefix('torch.')} tensor, not a dense one"
    if tensor.dtype not in _LOADABLE_DTYPES:
        return f"has dtype {str(tensor.dtype).removeprefix('torch.')}, not a number type of model weights"
    if tensor.numel() == 0:
        return None
    declared = tensor.numel() * tensor.element_size()
    stored = tensor.untyped_storage().nbytes()
    dims = sorted((stride, size, dim) for dim, (size, stride) in enumerate(zip(tensor.shape, tensor.stride())) if size > 1)
    reach = 1  # elements a dense layout of the smaller-stride dimensions spans
    for stride, size, dim in dims:
        if stride < reach:
            return (
                f"has stride {stride} in dimension {dim} (shape {tuple(tensor.shape)}): a view that repeats "
                f"{_bytes(stored)} of stored data as {_bytes(declared)}"
            )
        reach = stride * size
    extent = tensor.storage_offset() + sum((size - 1) * stride for stride, size, _ in dims) + 1
    if extent * tensor.element_size() > stored or declared > stored:
        return f"declares {_bytes(declared)} (shape {tuple(tensor.shape)}) over {_bytes(stored)} of stored data"
    return None


def check_tensors(path: str, tensors: Mapping[str, torch.Tensor], label: str = "SAM") -> None:
    """Refuse, before anything is copied, a tensor whose view is larger than its stored data,
    and views that together declare more than the file stores (many views of one storage)."""
    views: dict[tuple, int] = {}
    storages: dict[tuple[int, int], int] = {}
    for key, tensor in tensors.items():
        problem = _layout_problem(tensor)
        if problem:
            raise fail(path, f"tensor {key!r} {problem}; refused before it is copied", label)
        storage = tensor.untyped_storage()
        storages[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        view = (storage.data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.stride(), tensor.dtype)
        views[view] = tensor.numel() * tensor.element_size()  # a tied weight counts once
    declared, stored = sum(views.values()), sum(storages.values())
    if declared > stored or stored > os.path.getsize(path):
        raise fail(
            path, f"its {len(tensors)} tensors declare {_bytes(declared)} over {_bytes(stored)} of stored data "
            f"in a {_bytes(os.path.getsize(path))} file (views of shared storage); refused before they are copied", label
        )


def _unwrap(path: str, loaded: object, label: str) -> dict[str, torch.Tensor]:
    """The state dict inside ``loaded``: plain, or wrapped as {"model": …} / DataParallel."""
    if isinstance(loaded, Mapping):
        for wrapper in ("model", "state_dict"):
            inner = loaded.get(wrapper)
            if isinstance(inner, Mapping) and not any(str(k).startswith(ENCODER) for k in loaded):
                loaded = inner
                break
    if not isinstance(loaded, Mapping):
        raise fail(path, f"is not a state dict (it holds a {type(loaded).__name__})", label)
    tensors = {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        keys = ", ".join(repr(str(key))[:40] for key in list(loaded)[:5])  # repr: one line whatever the names
        raise fail(path, "is not a state dict (no tensors in it" + (f"; it holds {keys})" if keys else ")"), label)
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors



def check_fit(
    path: str, name: str, expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], label: str = "SAM"
) -> None:
    """Every tensor the model needs, of its shape and a float dtype, and no other: checked
    before any is converted or copied (``expected``: the model's meta-device state dict)."""
    for key, want in expected.items():
        have = found.get(key)
        if have is None:
            problem = "is missing"
        elif tuple(have.shape) != tuple(want.shape):
            problem = f"is {'x'.join(map(str, have.shape)) or 'a scalar'}, the architecture needs " + (
                "x".join(map(str, want.shape)) or "a scalar"
            )
        elif want.is_floating_point() and have.dtype not in _FLOAT_DTYPES:
            problem = f"holds {str(have.dtype).removeprefix('torch.')}, the architecture needs floating point"
        else:
            continue
        raise fail(path, f"does not fit the {name} architecture its shapes suggest: tensor {key!r} {problem}", label)
    extra = next((key for key in found if key not in expected), None)
    if extra is not None:
        raise fail(path, f"does not fit the {name} architecture its shapes suggest: unexpected tensor {extra!r}", label)


def file_digest(path: str, length: int = 8) -> str:
    """The first ``length`` hex digits of the file's SHA-256 (part of the embedding cache key)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:length]


FEATURE_DTYPES = ("float16", "float32")
"""dtypes the SAM backends may cache image features in."""


def default_device() -> torch.device:
    """CUDA when a GPU is usable, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def placement(device: str | torch.device | None, feature_dtype: str) -> tuple[torch.device, np.dtype]:
    """The torch device a SAM backend runs on (default `default_device`) and the numpy dtype
    it caches features in (one of `FEATURE_DTYPES`, else ValueError)."""
    if feature_dtype not in FEATURE_DTYPES:
        raise ValueError(f"feature_dtype must be one of {FEATURE_DTYPES}, got {feature_dtype!r}")
    return (torch.device(device) if device is not None else default_device()), np.dtype(feature_dtype)
