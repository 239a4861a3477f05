"""The reference workload: integer addition, generated deterministically from a seed.

Each example is ``"a+b=c"`` followed by an end token, with the digits of ``c`` written least
significant first (the order in which addition produces them, which a small model learns far more
easily). Quality is exact-match accuracy of the generated answer on held-out problems.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

VOCAB = "0123456789+=."
"""Token ids are positions in this string; '.' ends an answer and pads a sequence."""
END = VOCAB.index(".")


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """The random stream of one rank at one step. Samplers draw only from it, so a resumed run sees
    exactly the batches an uninterrupted run would have seen."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + step) * 4099 + rank) % 2**62)


def encode(text: str) -> list[int]:
    return [VOCAB.index(ch) for ch in text]


def decode(tokens: list[int]) -> str:
    return "".join(VOCAB[t] for t in tokens)


def sequence_length(digits: int) -> int:
    """Length of one example: a, '+', b, '=', the reversed sum (digits + 1) and the end token."""
    return 2 * digits + 2 + digits + 1 + 1


def answer_from_generated(tokens: list[int]) -> str:
    """The sum, in normal digit order, from generated tokens (reversed digits, then the end token)."""
    reversed_digits = decode([t for t in tokens if t < len(VOCAB)]).split(".")[0]
    return str(int(reversed_digits[::-1])) if reversed_digits.isdigit() else ""


def prompt(a: int, b: int, digits: int) -> str:
    return f"{a:0{digits}d}+{b:0{digits}d}="


def answer(a: int, b: int, digits: int) -> str:
    return f"{a + b:0{digits + 1}d}"[::-1]


@dataclass(frozen=True)
class AdditionTask:
    digits: int
    seed: int

    def problems(self, count: int, split: str) -> torch.Tensor:
        """``count`` (a, b) pairs of one split. Train and held-out draws use disjoint seeds."""
        offset = {"train": 0, "heldout": 1_000_003}[split]
        generator = torch.Generator().manual_seed(self.seed + offset)
        return torch.randint(0, 10 ** self.digits, (count, 2), generator=generator)

    def batch(self, step: int, rank: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The (inputs, targets) of one rank at one step: a pure function of (seed, step, rank).

        Because no sampler state is carried between steps, a run resumed at step k sees exactly the
        examples an uninterrupted run would have seen.
        """
        generator = step_generator(self.seed, step, rank)
        pairs = torch.randint(0, 10 ** self.digits, (batch_size, 2), generator=generator)
        rows = [encode(prompt(int(a), int(b), self.digits) + answer(int(a), int(b), self.digits) + ".")
                for a, b in pairs.tolist()]
        data = torch.tensor(rows, dtype=torch.long)
        inputs, targets = data[:, :-1], data[:, 1:].clone()
        # Only the answer is learned: the operands are random and cannot be predicted.
        targets[:, : 2 * self.digits + 1] = -100
        return inputs, targets

    @torch.no_grad()
    def exact_match(self, model: torch.nn.Module, count: int, device: torch.device) -> float:
        """Share of held-out problems whose generated answer is exactly right."""
        pairs = self.problems(count, "heldout").tolist()
        prompts = torch.tensor([encode(prompt(a, b, self.digits)) for a, b in pairs], device=device)
        generated = model.generate(prompts, max_new_tokens=self.digits + 2, stop_token=END)  # type: ignore[operator]
        correct = 0
        for (a, b), row in zip(pairs, generated.tolist(), strict=True):
            text = decode(row).split(".")[0]
            correct += text == answer(a, b, self.digits)
        return correct / len(pairs)
