"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write, then rename: a reader (or a resumed run) sees the old file or the whole new one,
    even if this process is killed mid-write. The temporary name carries the process id, so
    several processes can write into one folder. No fsync: a file damaged by a machine crash
    is the reader's to detect (the seed runner recomputes such chunks)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def npz_bytes(arrays: dict) -> bytes:
    """``np.savez`` of ``arrays`` into memory."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()
