"""service/ports.py: a free port that the kernel will not hand to someone else meanwhile."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from service import ports


def test_the_port_is_free_and_below_the_ephemeral_range() -> None:
    span = ports.ephemeral_range()
    for _ in range(20):
        port = ports.free_port()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # nothing holds it
        if span is not None and span[0] - 1 > ports.LOWEST:
            assert ports.LOWEST <= port < span[0]


def test_a_taken_port_is_never_chosen() -> None:
    span = ports.ephemeral_range()
    if span is None or span[0] - 1 <= ports.LOWEST:
        pytest.skip("no room below this machine's ephemeral range")
    seed = 7
    first = ports.free_port(rng=random.Random(seed))
    with socket.socket() as held:
        held.bind(("127.0.0.1", first))
        held.listen()
        again = ports.free_port(rng=random.Random(seed))  # the same draws: the first is skipped
    assert again != first


def test_an_unreadable_range_falls_back_to_the_kernels_choice(tmp_path: Path) -> None:
    assert ports.ephemeral_range(tmp_path / "missing") is None
    bad = tmp_path / "range"
    bad.write_text("not numbers\n")
    assert ports.ephemeral_range(bad) is None
    good = tmp_path / "good"
    good.write_text("32768\t60999\n")
    assert ports.ephemeral_range(good) == (32768, 60999)
