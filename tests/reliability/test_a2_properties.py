"""A2: Hypothesis properties of the small pure cores the service trusts.

1. chunker: every chunk record is its document's slice, chunks cover every sentence, a chunk
   exceeds ``chunk_size`` only by its edge sentences, neighbours share less than ``chunk_overlap``;
2. mrkdwn escaper: no raw ``<``/``>`` survives, exactly ``& < >`` are escaped, unescaping
   round-trips, ``fit`` never cuts inside an entity;
3. Slack verifier totality: for arbitrary headers and body bytes ``verify`` returns or raises the
   401 Problem, nothing else, and accepts exactly a valid v0 HMAC inside the 300 s window;
4. manifest: write→read round-trip, and any single-byte change to a published artifact (each
   data file, manifest.json, CURRENT) is refused by the real loader;
5. token bucket: allowed ≤ burst + rate·elapsed over every window, a denial's wait is honest,
   and a quiet period refills the bucket.

Each property runs N derandomized examples (100 in CI, 1000 with CITEQA_RELIABILITY_FULL=1);
the module reports one figure with the examples actually run.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from index.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    IndexCorrupt,
    IndexMismatch,
    encode_manifest,
    parse_manifest,
)
from index.pipeline import IngestConfig, build_units, ingest
from index.records import DocumentRecord, SentenceSpan
from index.store import CURRENT, current_version, load_snapshot, verify_version
from service.problems import Problem
from service.ratelimit import RateLimiter
from service.slack import MAX_SIGNATURE_CHARS, MAX_TIMESTAMP_CHARS, verify
from service.slack_blocks import escape_mrkdwn, fit
from tests.service_helpers import SLACK_SECRET
from tests.test_chunk import check_chunks, texts

from .common import CONFIG, FULL, encoder, make_corpus, report

EXAMPLES = 1000 if FULL else 100
PROPERTIES = {  # test name -> the property's name in the figure
    "test_chunker": "chunker",
    "test_mrkdwn_escaper": "mrkdwn escaper",
    "test_slack_verifier_totality": "Slack verifier totality",
    "test_manifest_tamper_detection": "manifest tamper detection",
    "test_token_bucket": "token bucket",
}
A2 = settings(max_examples=EXAMPLES, deadline=None, derandomize=True)


@dataclass
class Tally:
    """Examples each property ran, and the properties that met a falsifying example."""

    examples: Counter[str] = field(default_factory=Counter)
    failed: set[str] = field(default_factory=set)

    @contextlib.contextmanager
    def example(self, name: str) -> Iterator[None]:
        """Count one example that ran to the end; an Exception marks a falsifying one (Hypothesis
        aborts examples whose data ran out with a BaseException, which is neither)."""
        try:
            yield
        except Exception:
            self.failed.add(name)
            raise
        self.examples[name] += 1

    def figure(self) -> str:
        names = [n for n in PROPERTIES.values() if self.examples[n]]
        counts = {self.examples[n] for n in names}
        per = (f"{counts.pop()} examples" if len(counts) == 1
               else "; ".join(f"{n} {self.examples[n]}" for n in names) + " examples")
        return (f"A2: {len(names)} properties × {per} ({', '.join(names)}), "
                f"{len(self.failed)} failures")


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    counts = Tally()
    yield counts
    if counts.examples:
        report(counts.figure())


# ---- 1. chunker --------------------------------------------------------------------------------


_WORDS = ["the", "zone", "Dr.", "£3bn", "5%", "jobs", "x" * 30, "“Quote”", "日本語", "e.g.", "-"]
_sentence = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=25).map(
    lambda words: " ".join(words).capitalize() + ".")
_long_texts = st.lists(st.tuples(_sentence, st.sampled_from([" ", " ", " ", "\n", "\n\n"])),
                       min_size=2, max_size=80).map(lambda parts: "".join(a + b for a, b in parts))


@A2
@given(texts | _long_texts, st.integers(10, 400), st.data())
def test_chunker(tally: Tally, text: str, chunk_size: int, data: st.DataObject) -> None:
    with tally.example(PROPERTIES["test_chunker"]):
        overlap = data.draw(st.integers(0, chunk_size - 1), label="overlap")
        config = IngestConfig(chunk_size=chunk_size, chunk_overlap=overlap)
        record = DocumentRecord(doc_id="d", title="d", url=None, date=None, source_path="d.txt",
                                content_sha256="0" * 64, text=text)
        units = build_units(record, (), config, encoder())
        spans = [(s.start, s.end) for s in units.sentences]
        ranges = [(c.first_sentence, c.last_sentence) for c in units.chunks]
        check_chunks(text, [SentenceSpan(*span) for span in spans], ranges, chunk_size)
        for s in units.sentences:
            assert text[s.start : s.end] == s.text and s.text.strip()
        for c in units.chunks:
            assert text[c.start : c.end] == c.text
            assert (c.start, c.end) == (spans[c.first_sentence][0], spans[c.last_sentence - 1][1])
            # Past chunk_size only by the sentences at its edges (chunks are whole sentences).
            assert spans[c.last_sentence - 1][0] - spans[c.first_sentence][1] < chunk_size
        for s in units.sentences:  # every sentence lies inside the chunk that owns it
            owner = units.chunks[s.chunk_ordinal]
            assert owner.start <= s.start and s.end <= owner.end
        for prev, nxt in zip(units.chunks, units.chunks[1:], strict=False):
            assert (prev.first_sentence, prev.last_sentence) < (nxt.first_sentence,
                                                                nxt.last_sentence)
            shared = min(prev.last_sentence, nxt.last_sentence) - nxt.first_sentence
            if shared > 0:  # the overlap, less its edge sentences, stays under chunk_overlap
                inner = spans[nxt.first_sentence + shared - 1][0] - spans[nxt.first_sentence][1]
                assert inner < overlap
                event(f"neighbours share {min(shared, 3)}{'+' if shared >= 3 else ''} sentences")
        event(f"{min(len(units.chunks), 5)}{'+' if len(units.chunks) >= 5 else ''} chunks")


# ---- 2. mrkdwn escaper -------------------------------------------------------------------------

_ENTITY = re.compile(r"&(amp|lt|gt);")
_CHARS = {"amp": "&", "lt": "<", "gt": ">"}
_markup = st.text(
    st.one_of(st.sampled_from("&<>;|!@#*_~`\n"), st.characters()), max_size=300
) | st.lists(st.sampled_from(
    ["<!channel>", "<!here>", "<@U1>", "<#C1>", "<https://x|y>", "&amp;", "&lt;", "&gt;", "&",
     "<", ">", "*b*", "_i_", "~s~", "word", " ", "…", "&#39;"]), max_size=60).map("".join)


def _unescape(mrkdwn: str) -> str:
    """One left-to-right pass, so ``&amp;lt;`` reads back as ``&lt;``."""
    return _ENTITY.sub(lambda m: _CHARS[m.group(1)], mrkdwn)


def _bare(mrkdwn: str) -> str:
    """The text with its entities removed: must hold no control character of mrkdwn."""
    return _ENTITY.sub("", mrkdwn)


@A2
@given(_markup, st.integers(0, 700))
def test_mrkdwn_escaper(tally: Tally, text: str, limit: int) -> None:
    with tally.example(PROPERTIES["test_mrkdwn_escaper"]):
        out = escape_mrkdwn(text)
        assert not set(_bare(out)) & set("&<>")  # every & starts an entity; no raw < or >
        assert _unescape(out) == text
        # Only & < > change: everything else passes through in order.
        assert _bare(out) == "".join(c for c in text if c not in "&<>")
        assert len(out) == len(text) + 4 * text.count("&") + 3 * (text.count("<")
                                                                  + text.count(">"))
        cut = fit(text, limit)
        assert len(cut) <= limit and not set(_bare(cut)) & set("&<>")
        if len(out) <= limit:
            assert cut == out
        elif cut:  # cut on the raw text: what is left is a prefix of it, then the ellipsis
            assert cut.endswith("…") and text.startswith(_unescape(cut[:-1]))


# ---- 3. Slack verifier totality ----------------------------------------------------------------

TS = b"x-slack-request-timestamp"
SIG = b"x-slack-signature"
_WINDOW = 300
_SIG_EDITS = ("valid", "upper", "v1", "space", "short", "flip", "empty")


@dataclass(frozen=True)
class SlackRecipe:
    """How to build one request; times are relative so the test computes them at run time."""

    secret: str
    signer_secret: str | None  # None: sign with ``secret``
    body: bytes
    signed_body: bytes | None  # None: sign ``body``
    ts: int | bytes  # int: seconds from now (zero-padded to ``pad`` chars); bytes: raw header
    pad: int
    sig: str | bytes  # an edit of the valid signature, or a raw header
    ts_copies: int
    sig_copies: int
    extra: tuple[tuple[bytes, bytes], ...]


_header_names = st.sampled_from([TS, SIG, b"content-type", b"x-slack-retry-num", b"host"])
_bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=120).map(str.encode),
    st.just(b"token=x&team_id=T1&user_id=U1&command=%2Fask&text=hello"),
)
_offsets = st.one_of(st.integers(-_WINDOW + 3, _WINDOW - 3), st.integers(_WINDOW + 3, 10**10),
                     st.integers(-(10**10), -_WINDOW - 3), st.sampled_from([-299, 299, 0]))
_recipes = st.builds(
    SlackRecipe,
    secret=st.one_of(st.just(SLACK_SECRET), st.text(min_size=1, max_size=40)),
    signer_secret=st.one_of(st.none(), st.none(), st.none(), st.text(max_size=40)),
    body=_bodies,
    signed_body=st.one_of(st.none(), st.none(), st.none(), _bodies),
    ts=st.one_of(_offsets, _offsets, st.binary(max_size=30),
                 st.sampled_from([b"", b" 1", b"1.5", b"-5", b"\xd9\xa1\xd9\xa2", b"9" * 5000])),
    pad=st.integers(0, 24),
    sig=st.one_of(st.sampled_from(_SIG_EDITS), st.sampled_from(_SIG_EDITS),
                  st.binary(max_size=120)),
    ts_copies=st.sampled_from([1, 1, 1, 0, 2]),
    sig_copies=st.sampled_from([1, 1, 1, 0, 2]),
    extra=st.lists(st.tuples(_header_names, st.binary(max_size=80)), max_size=3).map(tuple),
)


def _hmac_v0(secret: str, ts: str, body: bytes) -> str:
    """Slack's v0 signature computed here with hmac directly, independent of slack_sdk."""
    message = b"v0:" + ts.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _edit(signature: str, edit: str) -> str:
    return {"valid": signature, "upper": signature.upper(), "v1": "v1" + signature[2:],
            "space": signature + " ", "short": signature[:-1], "empty": "",
            "flip": signature[:-1] + ("0" if signature[-1] != "0" else "1")}[edit]


def _headers(recipe: SlackRecipe, now: float) -> list[tuple[bytes, bytes]]:
    if isinstance(recipe.ts, int):
        ts = str(int(now) + recipe.ts).zfill(recipe.pad).encode()
    else:
        ts = recipe.ts
    if isinstance(recipe.sig, str):
        signed = recipe.body if recipe.signed_body is None else recipe.signed_body
        secret = recipe.secret if recipe.signer_secret is None else recipe.signer_secret
        sig = _edit(_hmac_v0(secret, ts.decode("latin-1"), signed), recipe.sig).encode()
    else:
        sig = recipe.sig
    headers = [(TS, ts)] * min(recipe.ts_copies, 1) + [(SIG, sig)] * min(recipe.sig_copies, 1)
    if recipe.ts_copies > 1:
        headers.append((TS, ts))
    if recipe.sig_copies > 1:
        headers.append((SIG, sig + b"0"))
    return headers + list(recipe.extra)


def _expected(headers: list[tuple[bytes, bytes]], body: bytes, secret: str,
              now: float) -> bool | None:
    """Whether a correct verifier accepts; None within 2 s of the window's edge (clock skew)."""
    ts_values = [v.decode("latin-1") for k, v in headers if k == TS]
    sig_values = [v.decode("latin-1") for k, v in headers if k == SIG]
    if len(ts_values) != 1 or len(sig_values) != 1 or not secret.strip():
        return False
    ts, sig = ts_values[0], sig_values[0]
    if not (0 < len(ts) <= MAX_TIMESTAMP_CHARS and re.fullmatch("[0-9]+", ts)):
        return False
    if not (0 < len(sig) <= MAX_SIGNATURE_CHARS and sig.isascii()):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    skew = abs(now - int(ts))
    if abs(skew - _WINDOW) < 2:
        return None
    return skew <= _WINDOW and hmac.compare_digest(sig, _hmac_v0(secret, ts, body))


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/slack/commands",
                    "headers": headers, "query_string": b""})


@A2
@given(_recipes)
def test_slack_verifier_totality(tally: Tally, recipe: SlackRecipe) -> None:
    with tally.example(PROPERTIES["test_slack_verifier_totality"]):
        now = time.time()
        headers = _headers(recipe, now)
        try:
            body = verify(_request(headers), recipe.body, recipe.secret)
        except Problem as exc:  # the only way to refuse
            assert exc.status == 401 and exc.detail == "invalid request signature"
            accepted = False
        else:
            assert body == recipe.body.decode("utf-8")
            accepted = True
        expected = _expected(headers, recipe.body, recipe.secret, now)
        if expected is not None:
            assert accepted == expected, (headers, expected)
        event("accepted" if accepted else "refused")


# ---- 4. manifest round-trip and tamper detection -----------------------------------------------

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30), st.sampled_from(["xud800", "\\u00e9", "a\"b", "日本", "ud83dude00"]),
)
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
_lone_surrogates = st.integers(0xD800, 0xDFFF).map(chr)  # json.dumps escapes them as \udXXX
_loose_json = st.recursive(
    st.one_of(_json_scalars, st.text(st.characters() | _lone_surrogates, max_size=8)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3), max_leaves=10)
_foreign_manifests = st.one_of(  # bytes another writer (or a damaged disk) could leave
    st.dictionaries(st.sampled_from(["format_version", "files", "checksum", "model", "x"]),
                    _loose_json).map(lambda d: {**d, "format_version": FORMAT_VERSION}),
    _loose_json,
).map(lambda value: json.dumps(value, ensure_ascii=True).encode()) | st.integers(1, 10**5).map(
    lambda depth: b'{"format_version": %d, "x": %s%s}' % (FORMAT_VERSION, b"[" * depth,
                                                          b"]" * depth))
_manifests = st.builds(
    lambda files, extra: {**{k: v for k, v in extra.items() if k != "checksum"},
                          "format_version": FORMAT_VERSION, "files": files},
    st.dictionaries(st.text(min_size=1, max_size=20), st.text("0123456789abcdef", min_size=64,
                                                              max_size=64), max_size=4),
    st.dictionaries(st.text(max_size=12), _json, max_size=5),
)


@dataclass(frozen=True)
class Mutation:
    """One single-byte change: replace the byte at ``at``, or insert or delete one there."""

    kind: str
    at: int
    value: int

    def apply(self, data: bytes) -> bytes:
        if self.kind == "insert":
            at = self.at % (len(data) + 1)
            return data[:at] + bytes([self.value]) + data[at:]
        if not data:
            return b"\0"  # the one single-byte change an empty file allows
        at = self.at % len(data)
        if self.kind == "delete":
            return data[:at] + data[at + 1 :]
        new = self.value if self.value != data[at] else (data[at] + 1) % 256
        return data[:at] + bytes([new]) + data[at + 1 :]


_mutations = st.builds(
    Mutation, st.sampled_from(["replace", "replace", "insert", "delete"]),
    st.integers(0, 2**20),
    st.one_of(st.integers(0, 255), st.sampled_from(b'\\"{}[],:0123456789abcdef \n\xff')),
)


@dataclass(frozen=True)
class TinyIndex:
    index_dir: Path
    artifacts: tuple[Path, ...]  # every file of the current version, manifest.json, CURRENT


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> TinyIndex:
    root = tmp_path_factory.mktemp("a2-index")
    index_dir = root / "index"
    report_ = ingest([make_corpus(root)], index_dir, encoder(), CONFIG, progress=False)
    assert report_.published
    version = current_version(index_dir)
    assert version is not None
    files = sorted(verify_version(index_dir, version)["files"])
    vdir = index_dir / version
    with load_snapshot(index_dir, lease=False) as snap:  # the untouched index loads
        assert snap.content.chunks
    return TinyIndex(index_dir, (*(vdir / f for f in files), vdir / MANIFEST_NAME,
                                 index_dir / CURRENT))


@A2
@given(_manifests, _mutations, _foreign_manifests)
def test_manifest_tamper_detection(tally: Tally, tiny_index: TinyIndex, manifest: dict,
                                   mutation: Mutation, foreign: bytes) -> None:
    with tally.example(PROPERTIES["test_manifest_tamper_detection"]):
        written = encode_manifest(manifest)
        read = parse_manifest(written, "v000001-abcdef")
        assert {k: v for k, v in read.items() if k != "checksum"} == manifest
        assert encode_manifest(read) == written
        with pytest.raises((IndexCorrupt, IndexMismatch)):
            parse_manifest(mutation.apply(written), "v000001-abcdef")
        with contextlib.suppress(IndexCorrupt, IndexMismatch):  # parses, or refuses by name
            parse_manifest(foreign, "v000001-abcdef")

        for path in tiny_index.artifacts:  # the same change to every artifact, one at a time
            original = path.read_bytes()
            path.write_bytes(mutation.apply(original))
            try:
                with pytest.raises((IndexCorrupt, IndexMismatch)):
                    load_snapshot(tiny_index.index_dir, lease=False).close()
            finally:
                path.write_bytes(original)
        verify_version(tiny_index.index_dir, current_version(tiny_index.index_dir) or "")


# ---- 5. token bucket ---------------------------------------------------------------------------


@dataclass
class ManualClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


_gaps = st.one_of(st.just(0.0), st.just(0.0), st.floats(0, 0.5), st.floats(0, 5), st.floats(0, 120))
_requests = st.lists(  # runs of requests: (quiet before, key, how many, spacing inside the run)
    st.tuples(_gaps, st.sampled_from("aab"), st.integers(1, 60), st.just(0.0) | st.floats(0, 0.3)),
    min_size=1, max_size=12,
).map(lambda runs: [(gap if i == 0 else spacing, key)
                    for gap, key, count, spacing in runs for i in range(count)])
_per_minute = st.one_of(st.floats(0.5, 60), st.floats(60, 600), st.floats(0.5, 6000))


@A2
@given(_per_minute, st.integers(1, 8) | st.integers(1, 40), _requests, st.floats(0, 3))
def test_token_bucket(tally: Tally, per_minute: float, burst: int,
                      requests: list[tuple[float, str]], extra_quiet: float) -> None:
    with tally.example(PROPERTIES["test_token_bucket"]):
        clock = ManualClock()
        limiter = RateLimiter(per_minute, burst, clock=clock)
        rate = per_minute / 60.0
        seen: dict[str, list[tuple[float, float]]] = {}  # key -> (time, wait) per request
        for gap, key in requests:
            clock.now += gap
            wait = limiter.take(key)
            history = seen.setdefault(key, [])
            assert wait >= 0.0 and (wait == 0.0 or wait <= 1.0 / rate * (1 + 1e-9))
            if not history:
                assert wait == 0.0, "a new key starts with a full bucket"
            elif history[-1][1] > 0 and clock.now >= history[-1][0] + history[-1][1] * (1 + 1e-9):
                assert wait == 0.0, "waiting the announced time must be enough"
                event("came back after the announced wait")
            history.append((clock.now, wait))
        event("some denied" if any(w for h in seen.values() for _, w in h) else "none denied")
        for history in seen.values():  # every window [t_i, t_j] of allowed requests
            t = np.array([at for at, wait in history if wait == 0.0])
            i, j = np.triu_indices(len(t))
            assert np.all(j - i + 1 <= burst + rate * (t[j] - t[i]) + 1e-6)
        clock.now += burst / rate + extra_quiet + 1e-6  # a quiet period refills it to burst
        assert [limiter.take("a") for _ in range(burst)] == [0.0] * burst
        assert limiter.take("a") == pytest.approx(1.0 / rate)
