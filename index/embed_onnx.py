"""The ONNX Runtime backends of the encoder, exported locally from the bundled weights.

No hub, no optimum: the sentence-transformers model is traced with ``torch.onnx`` (mean pooling
included in the graph) and BERT-fused by onnxruntime's transformer optimizer. That fused graph is
the ``onnx-fp32`` backend: the reference fp32 numerics (torch's vectors up to float rounding),
served without importing torch (cold start and memory) and with a session that several threads can
share (torch's tokenizer cannot). It is then dynamically quantized to int8 with per-channel weight
scales for ``onnx-int8`` (per-tensor scales move the vectors much further from fp32; the figures
are in eval/results/bench/README.md, "Encoder backends"). The export is cached on disk under
``<cache>/<weights sha256[:16]>-<recipe>/`` and built once, on first use or by ``prepare_export``.

A single text (a question) runs alone and unpadded: the model's tokenizer.json pads every text to
128 tokens, and left on, a short question would cost as much as a 128-token text. Many texts in one
fp32 call (ingest) run in small batches of similar length; int8 runs every text alone. The batches
depend on the call's texts alone, so a document gets the same vectors whatever is ingested beside
it; ``encode_groups`` runs the batches of several calls on the same workers.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .embed import (
    ModelIdentity,
    ModelNotFound,
    TextsDone,
    hash_model_dir,
    normalise,
    resolve_model_path,
)

BACKEND = "onnx-int8"
FP32_BACKEND = "onnx-fp32"
# Bump when the export or quantization recipe changes: a new recipe gets a new cache directory.
RECIPE = "ort-fused-qint8pc-2"
MODEL_FILES = {FP32_BACKEND: "model-fp32.onnx", BACKEND: "model-int8.onnx"}
# Texts per fp32 run when a call embeds many (ingest): enough to amortise each op's fixed cost,
# few enough that sorting by length leaves little padding (eval/results/bench/README.md).
FP32_BATCH = 8
# A batch's longest text is at most this many times its shortest: padding is computed and thrown
# away, and a document's short sentences batched with its long chunks cost as much as the chunks.
FP32_LENGTH_SPREAD = 1.25
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def length_batches(lengths: Sequence[int], size: int = FP32_BATCH,
                   spread: float = FP32_LENGTH_SPREAD) -> list[list[int]]:
    """Indices of ``lengths`` in batches of at most ``size``, shortest first, a batch's longest
    at most ``spread`` times its shortest."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: (lengths[i], i)):
        batch = batches[-1] if batches else None
        if batch is None or len(batch) >= size or lengths[i] > spread * lengths[batch[0]]:
            batches.append([i])
        else:
            batch.append(i)
    return batches


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "citeqa" / "encoders"


def export_dir(cache_dir: Path, weights_sha256: str) -> Path:
    """Where the export of these weights lives: deterministic, keyed by weights and recipe."""
    return cache_dir / f"{weights_sha256[:16]}-{RECIPE}"


def _max_seq_length(model_path: Path) -> int:
    config = model_path / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text()).get("max_seq_length", 256))
    return 256


def _check_mean_pooling(model_path: Path) -> None:
    """The graph hard-codes mean pooling; refuse a model that pools another way."""
    pooling = model_path / "1_Pooling" / "config.json"
    if pooling.is_file() and not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens"):
        raise ModelNotFound(f"the {BACKEND} backend needs a mean-pooling model: {model_path}")


def _export_fp32(model_path: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    class MeanPooled(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
    bert = AutoModel.from_pretrained(
        str(model_path), local_files_only=True, attn_implementation="eager"
    ).eval()
    sample = tokenizer(["a probe", "a longer probe sentence"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy tracer's notes about dynamic shapes
        torch.onnx.export(
            MeanPooled(bert), tuple(sample[name] for name in _INPUTS), str(out),
            input_names=list(_INPUTS), output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}}, opset_version=17, dynamo=False,
        )


def _fuse_and_quantize(fp32: Path, out: Path, hidden: int, heads: int) -> None:
    """Write the fused fp32 graph and its int8 quantization under ``out``."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    fused_path = out / MODEL_FILES[FP32_BACKEND]
    optimize_model(
        str(fp32), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1
    ).save_model_to_file(str(fused_path))
    logging.getLogger().setLevel(logging.ERROR)  # quantize_dynamic's pre-processing advice
    quantize_dynamic(
        str(fused_path), str(out / MODEL_FILES[BACKEND]), weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul", "Attention"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _complete(directory: Path) -> bool:
    return all((directory / name).is_file() for name in MODEL_FILES.values())


def prepare_export(model: str, cache_dir: Path | None = None) -> Path:
    """Build the ONNX exports of ``model`` if they are not cached yet; return their directory."""
    model_path = resolve_model_path(model)
    _check_mean_pooling(model_path)
    target = export_dir(cache_dir or default_cache_dir(), hash_model_dir(model_path))
    if _complete(target):
        return target
    config = json.loads((model_path / "config.json").read_text())
    # The first use on a machine waits here for the export, longer on a busy machine: say what
    # is happening, where it is cached, and how long it took.
    print(f"citeqa: exporting the encoder to ONNX (first use on this machine; cached under "
          f"{target.parent}) ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built in a sibling temp dir and renamed into place: a crash never leaves half an export.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        work = Path(tmp)
        _export_fp32(model_path, work / "fp32.onnx")
        staged = work / "out"
        staged.mkdir()
        _fuse_and_quantize(work / "fp32.onnx", staged,
                           int(config["hidden_size"]), int(config["num_attention_heads"]))
        (staged / "tokenizer.json").write_bytes((model_path / "tokenizer.json").read_bytes())
        (staged / "export.json").write_text(json.dumps(
            {"recipe": RECIPE, "max_seq_length": _max_seq_length(model_path),
             "dim": int(config["hidden_size"])}, indent=2) + "\n")
        try:
            staged.rename(target)
        except OSError:
            if not _complete(target):  # another process won the race: fine
                raise
    print(f"citeqa: encoder exported in {time.perf_counter() - started:.0f} s", file=sys.stderr,
          flush=True)
    return target


class OnnxEncoder:
    """The model on ONNX Runtime, fp32 or int8 (same ``Encoder`` contract).

    ``identity.backend`` names the embedding space the vectors live in: ``onnx-fp32`` computes
    the reference fp32 vectors, so it reports "torch" and queries torch-built indexes (and the
    other way round); ``onnx-int8`` is a space of its own.
    """

    def __init__(
        self, model: str, *, backend: str = BACKEND, threads: int | None = None,
        cache_dir: Path | None = None, name: str,
    ) -> None:
        if backend not in MODEL_FILES:
            raise ModelNotFound(f"unknown ONNX backend {backend!r}")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path = resolve_model_path(model)
        directory = prepare_export(model, cache_dir)
        meta = json.loads((directory / "export.json").read_text())
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(meta["max_seq_length"]))
        self._tokenizer.no_padding()
        # Each run is single-threaded; a call with many texts runs ``threads`` of them at once
        # (the session is thread-safe). For one short text an op is too small to share between
        # cores, and text-level parallelism costs less CPU than intra-op threads on ingest's
        # chunks (eval/results/bench/README.md, "Encoder backends").
        self._workers = threads or os.cpu_count() or 1
        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(directory / MODEL_FILES[backend]), options, providers=["CPUExecutionProvider"]
        )
        self._batched = backend == FP32_BACKEND
        self.identity = ModelIdentity(
            name=name, weights_sha256=hash_model_dir(model_path), dim=int(meta["dim"]),
            backend=BACKEND if backend == BACKEND else "torch",
        )

    def _run(self, text: str) -> np.ndarray:
        encoding = self._tokenizer.encode(text)
        feed = {
            "input_ids": np.array([encoding.ids], dtype=np.int64),
            "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
        }
        return np.asarray(self._session.run(None, feed)[0][0], dtype=np.float32)

    def _run_batch(self, ids: list[list[int]]) -> np.ndarray:
        """Mean-pooled vectors of texts of similar length, padded to the longest (masked)."""
        width = max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask,
                "token_type_ids": np.zeros_like(input_ids)}
        return np.asarray(self._session.run(None, feed)[0], dtype=np.float32)

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        return self.encode_reporting(texts, lambda _: None)

    def encode_reporting(self, texts: list[str], on_done: TextsDone) -> np.ndarray:
        return self._encode([texts], on_done)[0]

    def encode_groups(self, groups: Sequence[list[str]]) -> list[np.ndarray]:
        """Each group's vectors exactly as ``encode(group)`` gives them (the same runs), with
        the runs of all groups sharing the workers."""
        return self._encode(groups, lambda _: None)

    def _encode(self, groups: Sequence[list[str]], on_done: TextsDone) -> list[np.ndarray]:
        outs = [np.zeros((len(texts), self.identity.dim), dtype=np.float32) for texts in groups]
        runs = [(group, rows, run) for group, texts in enumerate(groups)
                for rows, run in self._runs(texts)]

        def fill(group: int, rows: list[int], vectors: np.ndarray) -> None:
            outs[group][rows] = vectors
            on_done(len(rows))

        workers = min(self._workers, len(runs))
        if workers <= 1:  # a question: no threads to start
            for group, rows, run in runs:
                fill(group, rows, run())
        else:
            with ThreadPoolExecutor(workers) as pool:
                done = pool.map(lambda item: item[2](), runs)
                for (group, rows, _), vectors in zip(runs, done, strict=True):
                    fill(group, rows, vectors)
        return [normalise(out) for out in outs]

    def _runs(self, texts: list[str]) -> list[tuple[list[int], Callable[[], np.ndarray]]]:
        """The model runs that embed ``texts``: which rows each fills, and the run. They depend on
        these texts alone, so the same texts always get the same vectors."""
        if not (self._batched and len(texts) > 1):
            # A single text (fp32 or int8) runs alone and unpadded. int8 runs every text alone:
            # dynamic quantization scales activations by the whole input tensor, so batch-mates
            # and padding would change a text's vector.
            return [([row], partial(self._run, text)) for row, text in enumerate(texts)]
        # fp32: texts sorted by token count, batched while of similar length; masked padding
        # changes a vector only by float rounding.
        ids = [encoding.ids for encoding in self._tokenizer.encode_batch(texts)]
        return [(batch, partial(self._run_batch, [ids[i] for i in batch]))
                for batch in length_batches([len(row) for row in ids])]
