"""What machine a benchmark ran on, recorded beside its figures."""

from __future__ import annotations

import os
import platform


def machine_info() -> dict[str, str | int]:
    """CPU model, logical cores, memory, Python and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gib = 0.0
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            memory_gib = int(handle.readline().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    info: dict[str, str | int] = {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "memory_gib": f"{memory_gib:.0f}",
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except ImportError:
        info["torch"] = "not installed"
    import cv2
    import numpy

    info["numpy"] = numpy.__version__
    info["opencv"] = cv2.__version__
    return info
