"""Chat examples: the loss falls exactly on the assistant turns, with the model's own template."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.llm.models import checkpoint
from training.llm import chat


def test_the_mask_covers_each_assistant_turn_and_nothing_else() -> None:
    tokenizer = chat.load_tokenizer(checkpoint("llama"))
    messages = [chat.Message("system", "be brief"), chat.Message("user", "12+30"), chat.Message("assistant", "42"),
                chat.Message("user", "and 1+1"), chat.Message("assistant", "2")]
    ids, mask = chat.encode_chat(tokenizer, messages)
    assert len(ids) == len(mask)
    assert tokenizer.decode(ids) == tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in messages], tokenize=False)
    assert tokenizer.decode(ids[mask == 1]) == "42<|im_end|>\n2<|im_end|>\n"


def test_a_template_that_rewrites_earlier_turns_is_refused(tmp_path: Path) -> None:
    tokenizer = chat.load_tokenizer(checkpoint("llama"))
    # A template that prints the number of messages first: a longer conversation changes the prefix.
    tokenizer.chat_template = "{{ messages | length }}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(chat.ChatError, match="cannot be masked"):
        chat.encode_chat(tokenizer, [chat.Message("user", "a"), chat.Message("assistant", "b")])


def test_plain_text_learns_every_token() -> None:
    tokenizer = chat.load_tokenizer(checkpoint("llama"))
    ids, mask = chat.encode_text(tokenizer, "order 12345")
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id and mask.all()
