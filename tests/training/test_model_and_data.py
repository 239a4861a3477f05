"""The reference model and the addition task."""

from __future__ import annotations

import pytest
import torch

from training import addition
from training.model import GPT, GPTConfig


def test_batches_are_a_pure_function_of_seed_step_and_rank() -> None:
    task = addition.AdditionTask(digits=3, seed=7)
    x1, y1 = task.batch(step=5, rank=1, batch_size=8)
    x2, y2 = task.batch(step=5, rank=1, batch_size=8)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, task.batch(step=5, rank=0, batch_size=8)[0])
    assert not torch.equal(x1, task.batch(step=6, rank=1, batch_size=8)[0])


def test_examples_encode_the_reversed_sum_and_mask_the_operands() -> None:
    task = addition.AdditionTask(digits=3, seed=0)
    inputs, targets = task.batch(step=0, rank=0, batch_size=4)
    assert inputs.shape == (4, addition.sequence_length(3) - 1)
    for row, target in zip(inputs.tolist(), targets.tolist(), strict=True):
        text = addition.decode(row)
        a, rest = text.split("+")
        b, reversed_sum = rest.split("=")
        assert int(reversed_sum[::-1]) == int(a) + int(b)
        learned = [t for t in target if t != -100]
        assert addition.decode(learned) == reversed_sum + "."


def test_heldout_problems_differ_from_training_draws() -> None:
    task = addition.AdditionTask(digits=3, seed=0)
    assert not torch.equal(task.problems(50, "train"), task.problems(50, "heldout"))


def test_model_shapes_limits_and_flops() -> None:
    cfg = GPTConfig(vocab_size=13, block_size=12, n_layer=2, n_head=2, n_embd=32)
    model = GPT(cfg)
    logits = model(torch.zeros(3, 12, dtype=torch.long))
    assert logits.shape == (3, 12, 13)
    with pytest.raises(ValueError, match="longer than block_size 12"):
        model(torch.zeros(1, 13, dtype=torch.long))
    assert model.flops_per_token(12) == 6 * model.num_parameters() + 12 * 2 * 32 * 12
    with pytest.raises(ValueError, match="multiple of n_head"):
        GPTConfig(vocab_size=13, n_head=3, n_embd=32)


def test_generation_stops_at_the_end_token() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=13, block_size=16, n_layer=1, n_head=1, n_embd=8))
    with torch.no_grad():
        model.head.weight.zero_()
        model.token_embedding.weight.zero_()
    # All logits are equal, so argmax picks token 0 forever; with stop_token=0 every row stops at once.
    out = model.generate(torch.ones(2, 3, dtype=torch.long), max_new_tokens=5, stop_token=0)
    assert out.tolist() == [[0], [0]]
