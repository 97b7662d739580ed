"""Forked builders for the crash tests: a child runs a real ingest and dies where it is told.

Only used inside the harness interpreter (``OMP_NUM_THREADS=1``, no threads started), where fork is
safe. Each child reports every publish step it reaches on a pipe before taking it, so the parent
knows how far it got.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from index.pipeline import IngestConfig, ingest
from index.store import IndexBusy

from .common import CONFIG, encoder

EXIT_CRASHED = 70  # the child "crashed" at its failpoint (os._exit: no clean-up runs)
EXIT_BUSY = 3
EXIT_ERROR = 1


@dataclass
class Child:
    pid: int
    log_read: int

    def wait(self) -> tuple[int | None, int | None, list[str]]:
        """(exit code, killing signal, steps reached)."""
        _, status = os.waitpid(self.pid, 0)
        chunks = []
        while True:
            data = os.read(self.log_read, 65536)
            if not data:
                break
            chunks.append(data)
        os.close(self.log_read)
        steps = [s for s in b"".join(chunks).decode().split("\n") if s]
        if os.WIFSIGNALED(status):
            return None, os.WTERMSIG(status), steps
        return os.WEXITSTATUS(status), None, steps

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)  # the child is not reaped yet, so the pid is still its


def fork_ingest(
    corpus: Path, index_dir: Path, *, crash_at: int | None = None, go_fd: int | None = None,
    hold_lock_s: float = 0.0, config: IngestConfig = CONFIG,
) -> Child:
    """Start ``ingest`` in a forked child. ``crash_at``: die at that step index (0-based) without
    taking it; ``go_fd``: wait for a byte first; ``hold_lock_s``: pause at the first step."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        return Child(pid, read_fd)
    os.close(read_fd)
    code = 0
    try:
        if go_fd is not None:
            os.read(go_fd, 1)
        reached = 0

        def failpoint(step: str) -> None:
            nonlocal reached
            os.write(write_fd, (step + "\n").encode())
            if crash_at is not None and reached == crash_at:
                os._exit(EXIT_CRASHED)
            if reached == 0 and hold_lock_s:
                time.sleep(hold_lock_s)
            reached += 1

        ingest([corpus], index_dir, encoder(), config, progress=False, failpoint=failpoint)
    except IndexBusy:
        code = EXIT_BUSY
    except BaseException:  # noqa: BLE001 - report anything else as a failure
        traceback.print_exc()
        code = EXIT_ERROR
    os._exit(code)
