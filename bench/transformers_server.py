"""The baseline a user might write: one process serving an LLM artifact with ``transformers``'
``generate``, behind the OpenAI completions route (plain and streamed), one generation at a time.

    .venv/bin/python bench/transformers_server.py MODEL_DIR PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import torch
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer


def create_app(model_dir: str) -> Starlette:
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, local_files_only=True)
    tokenizer: Any = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    lock = threading.Lock()  # one generate at a time: what a plain server does

    def _generate(prompt: str, max_tokens: int, streamer: TextIteratorStreamer | None) -> str:
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with lock, torch.no_grad():
            output = model.generate(**ids, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False,
                                    streamer=streamer)
        text: str = tokenizer.decode(output[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        return text

    async def completions(request: Request) -> Response:
        body = await request.json()
        prompt, max_tokens = str(body["prompt"]), int(body.get("max_tokens", 16))
        name = f"cmpl-{uuid.uuid4().hex}"
        if not body.get("stream"):
            text = await asyncio.to_thread(_generate, prompt, max_tokens, None)
            return JSONResponse({"id": name, "object": "text_completion", "created": int(time.time()),
                                 "model": body.get("model", ""), "choices": [{"index": 0, "text": text,
                                                                              "finish_reason": "length"}],
                                 "usage": {"completion_tokens": max_tokens}})
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        worker = threading.Thread(target=_generate, args=(prompt, max_tokens, streamer), daemon=True)
        worker.start()

        async def events() -> AsyncIterator[bytes]:
            iterator = iter(streamer)
            while True:
                piece = await asyncio.to_thread(next, iterator, None)
                if piece is None:
                    break
                chunk = {"id": name, "object": "text_completion", "model": body.get("model", ""),
                         "choices": [{"index": 0, "text": piece, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            usage = {"id": name, "object": "text_completion", "choices": [],
                     "usage": {"prompt_tokens": 0, "completion_tokens": max_tokens, "total_tokens": max_tokens}}
            yield f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode()

        return StreamingResponse(events(), media_type="text/event-stream")

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": model_dir, "object": "model"}]})

    return Starlette(routes=[Route("/v1/completions", completions, methods=["POST"]),
                             Route("/v1/models", models)])


if __name__ == "__main__":
    uvicorn.run(create_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
