"""Hostile source files for the ingest test, generated at test time (nothing binary is committed),
and the child process that ingests them under a memory limit.

``python -m tests.reliability.hostile_files CORPUS INDEX MAX_FILE_BYTES`` ingests CORPUS with the
real pipeline (hashing encoder) and prints one JSON line: skipped files with reasons, indexed
documents, seconds, peak RSS.

``python -m tests.reliability.hostile_files long-line CORPUS INDEX MODEL_DIR QUESTION`` ingests
CORPUS, then asks QUESTION with the real answer model (described for the hashing encoder in
MODEL_DIR) and prints one JSON line: ingest seconds and peak RSS, the longest sentence and chunk,
the answer's JSON size and its longest quote and passage.
"""

from __future__ import annotations

import base64
import json
import os
import random
import resource
import sys
import time
import zlib
from pathlib import Path

GOOD = {
    "good_partnership.txt": "Liverpool and Oxford signed a partnership in February 2026. It "
    "covers research on health and materials.\n",
    "good_jobs.md": "# Jobs\n\nThe innovation zone could create 40,000 jobs by 2030.\n",
    "good_page.html": "<html><head><title>Launchpad</title></head><body><p>The launchpad opened "
    "in March 2027. It supports twenty start-ups each year.</p></body></html>",
}


def _pdf(objects: list[bytes]) -> bytes:
    """A minimal, well-formed PDF (header, numbered objects, xref table, trailer)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def _pdf_with_stream(packed: bytes) -> bytes:
    """One page whose content stream is ``packed`` (Flate-compressed)."""
    return _pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ])


def _text_ops(size: int) -> bytes:
    """About ``size`` bytes of text-drawing operators, Flate-compressed as a stream (zlib.compress
    of it in one piece would need it all in memory)."""
    packer = zlib.compressobj(9)
    block = b"BT /F1 12 Tf 72 720 Td (A) Tj ET\n" * 30_000
    parts = [packer.compress(block) for _ in range(max(1, size // len(block)))]
    return b"".join(parts) + packer.flush()


def write_hostile(folder: Path, *, max_file_bytes: int, full: bool) -> dict[str, str]:
    """Write the hostile files; returns {file name: what makes it hostile}."""
    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "random_bytes.txt": rng.randbytes(64_000),
        "random_bytes.pdf": rng.randbytes(64_000),
        "pdf_header_then_noise.pdf": b"%PDF-1.7\n" + rng.randbytes(64_000),
        "truncated.pdf": _pdf_with_stream(zlib.compress(b"BT (Hello) Tj ET"))[:300],
        "zip_bomb.pdf": _pdf_with_stream(_text_ops(400_000_000 if full else 120_000_000)),
        "content_bomb.pdf": _pdf_with_stream(_text_ops(10_000_000)),
        "dense_operators.pdf": _pdf_with_stream(_text_ops(4_000_000)),
        "empty.txt": b"",
        "whitespace_only.md": b" \n\t\n" * 1000,
        "nul_bytes.txt": b"\x00" * 100_000,
        "deep_nesting.html": b"<div>" * (300_000 if full else 100_000) + b"deep text"
        + b"</div>" * 10,
        "deep_nesting_unclosed.html": b"<b><i>" * 100_000 + b"x",
        "no_text.html": b"<html><body>" + b"<script>var x = 1;</script>" * 1000 + b"</body></html>",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    with (folder / "huge.txt").open("wb") as fh:  # sparse: large on paper, nothing on disk
        fh.truncate((8 * 1024**3) if full else max_file_bytes + 1)
    (folder / "bad_sidecar.txt").write_text("A fine text with a broken sidecar.\n")
    (folder / "bad_sidecar.meta.json").write_text("{not json")
    (folder / "loop_a.txt").symlink_to("loop_b.txt")
    (folder / "loop_b.txt").symlink_to("loop_a.txt")
    return {**dict.fromkeys(files, "hostile"), "huge.txt": "over max_file_bytes",
            "bad_sidecar.txt": "broken sidecar", "loop_a.txt": "symlink loop",
            "loop_b.txt": "symlink loop"}


SECRET = "The vault code is 7731-alpha."


def write_link_attacks(folder: Path, outside: Path) -> dict[str, str]:
    """A link to a file outside the folder (the /etc/passwd attack, with a file of our own), a
    link to a named pipe and a pipe itself (either blocks whoever opens it for reading), and a
    2 KB sidecar of 1,000 nested arrays; returns {file name: the reason ingest must give}."""
    folder.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.txt").write_text(SECRET + "\n", encoding="utf-8")
    (folder / "passwd.txt").symlink_to(outside / "secret.txt")
    os.mkfifo(folder / "pipe")  # inside the folder, so the link to it is followed
    (folder / "pipe_link.txt").symlink_to(folder / "pipe")
    os.mkfifo(folder / "fifo.md")
    (folder / "deep_sidecar.txt").write_text("A text with a hostile sidecar.\n")
    (folder / "deep_sidecar.meta.json").write_text("[" * 1000 + "]" * 1000)
    return {"passwd.txt": "outside the ingested folder", "pipe_link.txt": "named pipe",
            "fifo.md": "named pipe", "deep_sidecar.txt": "nested too deeply"}


def write_long_line(path: Path, size: int) -> str:
    """One line of ``size`` characters with no whitespace and no sentence break (base64, as data
    pasted into a document); returns a question made of a piece of it."""
    blob = base64.b64encode(random.Random(11).randbytes(size * 3 // 4 + 3)).decode()[:size]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(blob, encoding="utf-8")
    return f"What is {blob[size // 2 : size // 2 + 24]}?"


# Not UTF-8 but a legacy encoding that is detected and decoded: read, not refused.
LEGACY = {
    "utf16.txt": "This file is UTF-16, not UTF-8.".encode("utf-16"),
    "invalid_utf8.txt": b"Valid start. " * 100 + b"\xff\xfe\xc3\x28 broken" + b" tail" * 50,
    "latin1.md": "# Café prices\n\nA crème brûlée costs £4 at the Müller café.\n".encode("latin-1"),
}


def write_good(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in GOOD.items():
        (folder / name).write_text(text, encoding="utf-8")
    for name, data in LEGACY.items():
        (folder / name).write_bytes(data)
    return [Path(name).stem for name in (*GOOD, *LEGACY)]


def _peak_rss_mb() -> float:
    """This process's peak RSS since exec (VmHWM). getrusage's ru_maxrss would also count the
    forking parent's RSS, which a forked child inherits."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(corpus: str, index: str, max_file_bytes: str) -> None:
    from index.pipeline import IngestConfig, ingest
    from tests.fake_encoder import HashingEncoder

    started = time.perf_counter()
    report = ingest([Path(corpus)], Path(index), HashingEncoder(dim=32),
                    IngestConfig(max_file_bytes=int(max_file_bytes)), progress=False)
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "seconds": round(elapsed, 2),
        "peak_rss_mb": _peak_rss_mb(),
        "published": report.published,
        "indexed": sorted(report.embedded + report.reused),
        "skipped": {os.path.basename(e.path): e.reason for e in report.skipped},
    }))


def long_line(corpus: str, index: str, model_dir: str, question: str) -> None:
    from index.chunk import max_chunk_chars
    from index.pipeline import IngestConfig, ingest
    from index.store import load_snapshot
    from tests.fake_encoder import HashingEncoder

    config = IngestConfig()
    started = time.perf_counter()
    report = ingest([Path(corpus)], Path(index), HashingEncoder(dim=32), config, progress=False)
    elapsed = time.perf_counter() - started
    peak = _peak_rss_mb()  # before the answer model is imported and loaded

    from retriever.answer_model import AnswerModel
    from retriever.engine import Engine
    from retriever.weights import ScoringModel

    with load_snapshot(Path(index)) as snap:
        longest_sentence = max(s.end - s.start for s in snap.content.sentences)
        longest_chunk = max(c.end - c.start for c in snap.content.chunks)
    engine = Engine.open(Path(index), HashingEncoder(dim=32), ScoringModel.load(), None,
                         AnswerModel(Path(model_dir), threads=1))
    asked = time.perf_counter()
    answer = engine.ask(question)
    ask_s = time.perf_counter() - asked
    cited = answer.citations + answer.conflicts
    print(json.dumps({
        "seconds": round(elapsed, 2),
        "peak_rss_mb": peak,
        "published": report.published,
        "sentences": report.sentences,
        "chunks": report.chunks,
        "longest_sentence": longest_sentence,
        "longest_chunk": longest_chunk,
        "chunk_bound": max_chunk_chars(config.chunk_size),
        "ask_s": round(ask_s, 2),
        "answer_json_bytes": len(answer.model_dump_json().encode()),
        "longest_quote": max([len(c.quote) for c in cited] + [len(answer.answer or "")]),
        "longest_passage": max([len(c.passage) for c in cited], default=0),
    }))


if __name__ == "__main__":
    if sys.argv[1] == "long-line":
        long_line(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
