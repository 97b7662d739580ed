"""An ingest process for the hot-swap test (S1): each marker read on stdin changes the trial
document and publishes a new version with the real ingest pipeline (the fake encoder at the model
seam, tests/fake_encoder.py), then prints one JSON line: the version and its documents' texts as
loaded back from that version, which is what the checker holds every citation against.

    python -m tests.reliability.publisher INDEX_DIR CORPUS_DIR   # then one marker per line
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from index.pipeline import IngestConfig, ingest
from index.store import load_snapshot

from .common import REPO, encoder, set_marker

# Garbage collection on every publish keeps CURRENT, the one before and the newest two (plus any
# version a server holds a lease on), so old versions really go while the server runs.
CONFIG = IngestConfig(keep_versions=2)


def publish(index_dir: Path, corpus: Path, marker: str) -> dict[str, Any]:
    started = time.monotonic()
    set_marker(corpus, marker)
    report = ingest([corpus], index_dir, encoder(), CONFIG, progress=False)
    with load_snapshot(index_dir, report.version) as snap:
        docs = {d.doc_id: d.text for d in snap.content.documents}
    return {"version": report.version, "published": report.published, "docs": docs,
            "seconds": time.monotonic() - started}


def main(argv: list[str]) -> int:
    index_dir, corpus = Path(argv[0]), Path(argv[1])
    for line in sys.stdin:
        print(json.dumps(publish(index_dir, corpus, line.strip())), flush=True)
    return 0


class Publisher:
    """The publisher process, driven from a test."""

    def __init__(self, index_dir: Path, corpus: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.publisher", str(index_dir), str(corpus)],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )

    def publish(self, marker: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(marker + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the publisher exited (rc {self.proc.poll()})"
        result: dict[str, Any] = json.loads(line)
        assert result["published"], result
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(30)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
