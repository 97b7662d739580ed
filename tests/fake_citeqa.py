"""The ``citeqa`` command line with the fake encoder at its model seam, for tests.

Everything but the encoder is the product's own: the parser, the verbs, settings from CITEQA_*
variables, the app and uvicorn. In this process: ``main(["ingest", ...], dim=32)``; as a child
process: ``command(32, "serve", ...)``, which runs ``python -m tests.fake_citeqa --dim 32 serve``.
The verbs that embed (ingest, ask, serve) use the fake; the others are unchanged.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from index.embed import Encoder
from service import cli
from service.settings import Settings
from service.wiring import EncoderFactory
from tests.fake_encoder import HashingEncoder


def hashing_encoders(dim: int) -> EncoderFactory:
    """The seam's factory, building the fake whatever the settings name."""

    def make(settings: Settings, *, for_questions: bool = False) -> Encoder:
        return HashingEncoder(dim=dim)

    return make


def main(argv: Sequence[str], *, dim: int) -> int:
    return cli.main(argv, make_encoder=hashing_encoders(dim))


def command(dim: int, *argv: str) -> list[str]:
    """The argv of a child process running ``citeqa *argv`` with the fake (cwd-independent when
    the repository is on PYTHONPATH)."""
    return [sys.executable, "-m", "tests.fake_citeqa", "--dim", str(dim), *argv]


if __name__ == "__main__":
    # No help and no abbreviations: every other argument belongs to citeqa's own parser.
    launcher = argparse.ArgumentParser(prog="python -m tests.fake_citeqa", add_help=False,
                                       allow_abbrev=False)
    launcher.add_argument("--dim", type=int, required=True, help="the fake encoder's dimension")
    options, rest = launcher.parse_known_args()
    sys.exit(main(rest, dim=options.dim))
