"""What the benchmark ran on: cores, CPU model, memory, load, library versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import psutil


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _proc_value(path: str, prefix: str) -> str | None:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(prefix)), None)


def _cpu_flags() -> list[str]:
    flags = set((_proc_value("/proc/cpuinfo", "flags") or "").split())
    # The ones that decide how fast int8 and fp32 kernels can be.
    return sorted(f for f in flags if f in {"avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni",
                                            "amx_int8"})


def cpu_model() -> str:
    """The CPU's model name (psutil has none: /proc/cpuinfo, else platform's guess)."""
    return _proc_value("/proc/cpuinfo", "model name") or platform.processor()


def describe() -> dict[str, Any]:
    from index.manifest import library_versions

    versions = library_versions()
    for name in ("onnxruntime", "uvicorn", "fastapi"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001  (absent or unreadable metadata: just not listed)
            versions[name] = "absent"
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "cpu_flags": _cpu_flags(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "libraries": versions,
    }
