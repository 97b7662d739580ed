"""The serving process loads only what serving needs: ``citeqa serve`` (its command line, the app
factory and the app) imports none of the packages that only ingest uses.

Run in a subprocess, so what this test process has imported already does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Parsers, splitters and model libraries that ingest (or the torch backend) needs and serving never.
INGEST_ONLY = ("langchain_text_splitters", "bs4", "lxml", "pypdf", "docx", "torch",
               "sentence_transformers", "frontmatter")

PROBE = """
import json, sys
from service.cli import build_parser
from service.settings import Settings
from service.app import create_app
build_parser()  # every verb's parser, as `citeqa serve` builds them
create_app(Settings(index_dir=sys.argv[1]))
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_serving_imports_no_ingest_only_package(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "no-index")], cwd=REPO,
        capture_output=True, text=True, timeout=120, check=True,
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "service" in loaded and "fastapi" in loaded  # the probe did import the service
    assert sorted(loaded & set(INGEST_ONLY)) == []


def test_the_cli_default_page_limit_is_the_crawlers() -> None:
    """service/cli.py names the crawl limit itself: its parser must not import the crawler."""
    from index.web_fetch import WebLimits
    from service.cli import DEFAULT_MAX_PAGES

    assert WebLimits.max_pages == DEFAULT_MAX_PAGES
