"""Export a trained answer model to ONNX: fp32 (BERT-fused by onnxruntime's optimizer) and a
dynamic int8 quantization with per-channel weight scales (the encoder's own recipe)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

FP32_FILE = "answer-fp32.onnx"
INT8_FILE = "answer-int8.onnx"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OUTPUT_AXES = {
    "answer_logit": {0: "batch"},
    "start_logits": {0: "batch", 1: "tokens"},
    "end_logits": {0: "batch", 1: "tokens"},
    "answerable_logit": {0: "batch"},
}


def export(
    run_dir: Path, out: Path, layers: int, answerability: bool = False
) -> dict[str, Path]:
    """``run_dir/model.safetensors`` → ``out/answer-fp32.onnx`` and ``out/answer-int8.onnx``."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from safetensors.torch import load_file

    from .model import AnswerReader, ExportedReader, output_names
    from .train import base_model_dir

    # the weight only decides whether the head exists; the loss is not used here
    reader = AnswerReader(base_model_dir(), layers,
                          answerability_weight=1.0 if answerability else 0.0)
    reader.load_state_dict(load_file(str(run_dir / "model.safetensors")))
    reader.eval()
    sample = {
        "input_ids": torch.tensor([[101, 2054, 102, 1996, 102, 102]] * 2),
        "attention_mask": torch.ones(2, 6, dtype=torch.long),
        "token_type_ids": torch.tensor([[0, 0, 0, 1, 1, 1]] * 2),
    }
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(
            ExportedReader(reader), tuple(sample[name] for name in _INPUTS), str(raw),
            input_names=list(_INPUTS),
            output_names=output_names(reader),
            dynamic_axes={**axes, **{name: _OUTPUT_AXES[name] for name in output_names(reader)}},
            opset_version=17, dynamo=False,
        )
        config = reader.bert.config
        optimize_model(
            str(raw), model_type="bert", num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size), opt_level=1,
        ).save_model_to_file(str(out / FP32_FILE))
    logging.getLogger().setLevel(logging.ERROR)  # quantize_dynamic's pre-processing advice
    quantize_dynamic(
        str(out / FP32_FILE), str(out / INT8_FILE), weight_type=QuantType.QInt8,
        per_channel=True, op_types_to_quantize=["MatMul", "Attention", "Gather"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return {"fp32": out / FP32_FILE, "int8": out / INT8_FILE}
