"""Chat and text examples encoded with a base model's own tokenizer and chat template.

A chat example is a list of messages (``system`` / ``user`` / ``assistant``). It is rendered with the
model's chat template turn by turn, and the loss mask is 1 exactly on the tokens each assistant turn
adds (its content and the template's end of turn): the model learns to answer, not to predict the
user. This needs a template whose rendering of a conversation starts with the rendering of every
shorter prefix of it, which is checked for each example rather than assumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoTokenizer, PreTrainedTokenizerBase

ROLES = ("system", "user", "assistant")


class ChatError(ValueError):
    """An example that cannot be encoded; one line."""


@dataclass(frozen=True)
class Message:
    role: str
    content: str


def parse_messages(value: Any) -> tuple[Message, ...] | None:
    """``messages`` of a JSON line, or None when it is not a usable conversation (an unknown role, a
    non-text content, or no assistant turn to learn from)."""
    if not isinstance(value, list) or not value:
        return None
    messages = []
    for item in value:
        if not isinstance(item, dict) or item.get("role") not in ROLES or not isinstance(item.get("content"), str):
            return None
        messages.append(Message(item["role"], item["content"]))
    if not any(m.role == "assistant" for m in messages):
        return None
    return tuple(messages)


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return tokenizer


def _ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids


def _render(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message], *, prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template([{"role": m.role, "content": m.content} for m in messages],
                                         tokenize=False, add_generation_prompt=prompt)
    return _ids(tokenizer, str(text))


def encode_chat(tokenizer: PreTrainedTokenizerBase,
                messages: Sequence[Message]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and the loss mask (1 on the assistant turns' tokens) of one conversation."""
    ids: list[int] = []
    mask: list[int] = []
    for index, message in enumerate(messages):
        if message.role != "assistant":
            continue
        before = _render(tokenizer, messages[:index], prompt=True)
        through = _render(tokenizer, messages[:index + 1], prompt=False)
        if before[:len(ids)] != ids or through[:len(before)] != before:
            raise ChatError("the chat template does not render a conversation as an extension of its prefixes, "
                            "so assistant turns cannot be masked")
        mask += [0] * (len(before) - len(ids)) + [1] * (len(through) - len(before))
        ids = through
    rest = _render(tokenizer, messages, prompt=False)
    if rest[:len(ids)] != ids:
        raise ChatError("the chat template does not render a conversation as an extension of its prefixes")
    mask += [0] * (len(rest) - len(ids))
    return np.asarray(rest, dtype=np.uint32), np.asarray(mask, dtype=np.uint8)


def encode_text(tokenizer: PreTrainedTokenizerBase, text: str) -> tuple[np.ndarray, np.ndarray]:
    """A plain document: beginning and end of sequence around its tokens, the loss on all of them."""
    ids = _ids(tokenizer, text)
    if tokenizer.bos_token_id is not None:
        ids = [tokenizer.bos_token_id, *ids]
    if tokenizer.eos_token_id is not None:
        ids = [*ids, tokenizer.eos_token_id]
    return np.asarray(ids, dtype=np.uint32), np.ones(len(ids), dtype=np.uint8)
