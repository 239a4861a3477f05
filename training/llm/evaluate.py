"""Quality of an LLM artifact in ``transformers``: held-out exact match and perplexity.

The serving engine is the judge for what users get (the lifecycle and the optimisation gate score
through it); this is the same measurement in plain ``transformers``, for a model the engine does not
run and for tests that compare the two.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from training.data import IGNORE, ExampleDataset


def load(directory: Path, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """The artifact's model (in inference mode) and tokenizer; typed loosely, as transformers' are."""
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype, local_files_only=True)
    model.train(False)
    return model, AutoTokenizer.from_pretrained(directory, local_files_only=True)


@torch.no_grad()
def generate_answers(directory: Path, questions: Sequence[str], max_new_tokens: int = 8,
                     batch_size: int = 64) -> list[str]:
    """Greedy answers to single-turn chat questions, decoded without special tokens."""
    model, tokenizer = load(directory)
    tokenizer.padding_side = "left"
    answers: list[str] = []
    for start in range(0, len(questions), batch_size):
        chats = [[{"role": "user", "content": q}] for q in questions[start:start + batch_size]]
        texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        output = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
        for row in output[:, batch["input_ids"].shape[1]:]:
            answers.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return answers


def exact_match(directory: Path, problems: Sequence[tuple[str, str]]) -> float:
    """Share of (question, answer) pairs answered exactly."""
    answers = generate_answers(directory, [q for q, _ in problems])
    return sum(got == want for got, (_, want) in zip(answers, problems, strict=True)) / len(problems)


@torch.no_grad()
def perplexity(directory: Path, data: str, examples: int = 256, block_size: int = 512) -> float:
    """exp of the mean loss over the counted tokens of the first ``examples`` examples of ``data``."""
    model, _ = load(directory)
    dataset = ExampleDataset(data, block_size, seed=0, pad_id=int(model.config.pad_token_id or 0))
    total, counted = 0.0, 0
    for index in range(min(examples, dataset.examples)):
        ids, mask = dataset.example(index)
        ids, mask = ids[:block_size + 1], mask[:block_size + 1]
        inputs = torch.from_numpy(ids[:-1])[None]
        labels = torch.from_numpy(ids[1:].copy())
        labels[torch.from_numpy(mask[1:]) == 0] = IGNORE
        logits = model(input_ids=inputs).logits[0].float()
        loss = torch.nn.functional.cross_entropy(logits, labels, ignore_index=IGNORE, reduction="sum")
        total += float(loss)
        counted += int((labels != IGNORE).sum())
    return math.exp(total / max(1, counted))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.llm.evaluate --model DIR --problems FILE``: exact match of the JSON lines
    ``{"question", "answer"}`` in FILE, printed as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m training.llm.evaluate", description=main.__doc__)
    parser.add_argument("--model", required=True, help="an LLM artifact directory")
    parser.add_argument("--problems", required=True, help="JSON lines of question and answer")
    args = parser.parse_args(argv)
    problems = [(str(p["question"]), str(p["answer"])) for p in map(json.loads, Path(args.problems).read_text()
                                                                     .splitlines()) if p]
    started = time.perf_counter()
    score = exact_match(Path(args.model), problems)
    print(json.dumps({"exact_match": score, "problems": len(problems),
                      "seconds": round(time.perf_counter() - started, 2), "engine": "transformers"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
