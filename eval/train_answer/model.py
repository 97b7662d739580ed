"""The answer model in torch, for training and export: the bundled MiniLM encoder with two heads.

- ``answer``: one logit from the [CLS] vector: does this sentence answer the question?
- ``span``: start and end logits per token: where in the sentence the answer is (the highlight).
- ``answerable`` (optional, ``answerability_weight`` > 0): one more logit from [CLS], trained only
  on a question's answering sentence (yes) and an unanswerable question's best candidates (no):
  whether the question is answered here at all, the decision the answer logit mixes with
  choosing among sentences.

Loss on the answer logit: binary cross-entropy per candidate ("pointwise"), or with ``groups``
(each row's question) a softmax over each question's candidates and a null choice whose logit is
0 ("listwise"): the likelihood of its answering candidates, or of the null choice when none
answers. Plus cross-entropy of the gold start and end token on positive candidates (``-100``
elsewhere, ignored), weighted by ``span_weight``; and binary cross-entropy of the answerability
logit where a row has an answerability label (``IGNORE`` elsewhere), weighted by
``answerability_weight``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import BertModel

IGNORE = -100


class AnswerReader(nn.Module):
    def __init__(
        self, base: Path, layers: int | None = None, span_weight: float = 0.5,
        answerability_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.bert = BertModel.from_pretrained(str(base), add_pooling_layer=False)
        if layers is not None and layers < len(self.bert.encoder.layer):
            # The first layers of the bundled model: fewer layers read faster when serving.
            self.bert.encoder.layer = self.bert.encoder.layer[:layers]
            self.bert.config.num_hidden_layers = layers
        hidden = int(self.bert.config.hidden_size)
        self.answer = nn.Linear(hidden, 1)
        self.span = nn.Linear(hidden, 2)
        self.span_weight = span_weight
        self.answerability_weight = answerability_weight
        self.answerable = nn.Linear(hidden, 1) if answerability_weight > 0 else None

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
        answerable_labels: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        answer_logit = self.answer(hidden[:, 0]).squeeze(-1)
        start_logits, end_logits = self.span(hidden).unbind(-1)
        # Padding can never start or end an answer.
        pad = attention_mask == 0
        start_logits = start_logits.masked_fill(pad, -1e4)
        end_logits = end_logits.masked_fill(pad, -1e4)
        out: dict[str, Any] = {
            "answer_logit": answer_logit,
            "start_logits": start_logits,
            "end_logits": end_logits,
        }
        if self.answerable is not None:
            out["answerable_logit"] = self.answerable(hidden[:, 0]).squeeze(-1)
        if labels is not None:
            if groups is None:
                loss = nn.functional.binary_cross_entropy_with_logits(answer_logit,
                                                                      labels.float())
            else:
                loss = listwise_loss(answer_logit, labels, groups)
            if start_positions is not None and end_positions is not None:
                has_span = (start_positions != IGNORE).any()
                if has_span:
                    ce = nn.functional.cross_entropy
                    span_loss = (
                        ce(start_logits, start_positions, ignore_index=IGNORE)
                        + ce(end_logits, end_positions, ignore_index=IGNORE)
                    ) / 2
                    loss = loss + self.span_weight * span_loss
            if answerable_labels is not None and "answerable_logit" in out:
                labelled = answerable_labels != IGNORE
                if labelled.any():
                    loss = loss + self.answerability_weight * (
                        nn.functional.binary_cross_entropy_with_logits(
                            out["answerable_logit"][labelled],
                            answerable_labels[labelled].float())
                    )
            out["loss"] = loss
        return out


def listwise_loss(logits: torch.Tensor, labels: torch.Tensor,
                  groups: torch.Tensor) -> torch.Tensor:
    """Mean over questions of -log P(an answering candidate), or -log P(null) for a question with
    none, under a softmax over the question's candidate logits and a null logit of 0."""
    losses = []
    for group in torch.unique(groups):
        mine = groups == group
        scores, answers = logits[mine], labels[mine] > 0
        everything = torch.logsumexp(torch.cat([scores.new_zeros(1), scores]), 0)
        chosen = torch.logsumexp(scores[answers], 0) if answers.any() else scores.new_zeros(())
        losses.append(everything - chosen)
    return torch.stack(losses).mean()


class ExportedReader(nn.Module):
    """The same model with positional outputs, as the ONNX graph exposes them."""

    def __init__(self, reader: AnswerReader) -> None:
        super().__init__()
        self.reader = reader

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        out = self.reader(input_ids, attention_mask, token_type_ids)
        return tuple(out[name] for name in output_names(self.reader))


def output_names(reader: AnswerReader) -> list[str]:
    """The exported graph's outputs, in order (the answerability logit only with its head)."""
    names = ["answer_logit", "start_logits", "end_logits"]
    return names + (["answerable_logit"] if reader.answerable is not None else [])
