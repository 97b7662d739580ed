"""Shared pieces of the durability tests (D1–D9): corpora, state checks, figures, the harness."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from index.pipeline import IngestConfig, ingest
from index.store import (
    CURRENT,
    CURRENT_TMP,
    STAGING_PREFIX,
    TRASH_PREFIX,
    list_versions,
    load_snapshot,
    verify_version,
)
from tests.fake_encoder import HashingEncoder

REPO = Path(__file__).resolve().parents[2]
FULL = os.environ.get("CITEQA_RELIABILITY_FULL") == "1"
DIM = 32
CONFIG = IngestConfig(keep_versions=2)  # small keep: GC removes a version on most publishes
TRIAL_DOC = "trial"

_DOCS = {
    "alpha.txt": "Liverpool and Oxford signed a partnership in February 2026. It covers research "
    "on health and materials. The mayor welcomed the agreement.\n",
    "beta.md": "# Jobs\n\nThe innovation zone could create 40,000 jobs by 2030. Investment comes "
    "from public and private partners. Sefton and Wirral host new hubs.\n",
    "gamma.txt": "The launchpad opened in March 2027. It supports twenty start-ups each year. "
    "Applications close in June.\n",
}


def encoder(seed: int = 0) -> HashingEncoder:
    return HashingEncoder(dim=DIM, seed=seed)


def make_corpus(root: Path, marker: str = "m0", docs: dict[str, str] | None = None) -> Path:
    corpus = root / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in (docs or _DOCS).items():
        (corpus / name).write_text(text)
    set_marker(corpus, marker)
    return corpus


def trial_text(marker: str) -> str:
    return f"Trial note {marker} about the Wirral hub. Marker {marker} is unique to this build.\n"


def set_marker(corpus: Path, marker: str) -> None:
    """Change one document so the next ingest publishes a new version that carries ``marker``."""
    (corpus / f"{TRIAL_DOC}.txt").write_text(trial_text(marker))


def base_index(work: Path) -> tuple[Path, Path]:
    """An index with two versions (keep=2), so the next publish also garbage-collects one."""
    corpus, base = make_corpus(work, "b1"), work / "base"
    for marker in ("b1", "b2", "b3"):
        set_marker(corpus, marker)
        ingest([corpus], base, encoder(), CONFIG, progress=False)
    return corpus, base


def served_marker(index_dir: Path) -> str | None:
    """Load CURRENT with the real loader and return the marker of the trial document in it."""
    with load_snapshot(index_dir) as snap:
        texts = {d.doc_id: d.text for d in snap.content.documents}
    text = texts.get(TRIAL_DOC, "")
    return text.split()[2] if text.startswith("Trial note ") else None


def leftovers(index_dir: Path) -> list[str]:
    names = [p.name for p in index_dir.iterdir()] if index_dir.is_dir() else []
    return sorted(
        n for n in names if n.startswith((STAGING_PREFIX, TRASH_PREFIX)) or n == CURRENT_TMP
    )


def unverifiable_versions(index_dir: Path) -> list[str]:
    """Version directories visible under a version name that do not verify (partial versions)."""
    bad = []
    for name in list_versions(index_dir):
        try:
            verify_version(index_dir, name)
        except Exception:  # noqa: BLE001 - any failure counts
            bad.append(name)
    return bad


def current_bytes(index_dir: Path) -> bytes | None:
    try:
        return (index_dir / CURRENT).read_bytes()
    except FileNotFoundError:
        return None


def copy_index(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))


# ---- figures ---------------------------------------------------------------------------------


def report(line: str) -> None:
    """Print a figure and append it to $CITEQA_RELIABILITY_REPORT (for `make reliability`)."""
    print(line)
    path = os.environ.get("CITEQA_RELIABILITY_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


# ---- the fork harness runs in a fresh interpreter ------------------------------------------


def run_harness(scenario: str, workdir: Path, timeout: float, **params: Any) -> dict[str, Any]:
    """Run ``tests.reliability.harness <scenario>`` in a clean interpreter (forking from pytest's
    process, with its threads and pools, would be unsafe) and return its JSON summary."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.harness", scenario, str(workdir),
         json.dumps(params)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, (
        f"harness {scenario} failed (rc {proc.returncode}):\n{proc.stdout[-4000:]}\n"
        f"{proc.stderr[-8000:]}"
    )
    return json.loads(lines[-1])
