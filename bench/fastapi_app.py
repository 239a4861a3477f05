"""The plain peer: a FastAPI app calling the same handler functions, one request at a time per thread."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request, Response

from serving.handler import load

handler = load(Path(os.environ["SM_MODEL_DIR"]))
app = FastAPI()


@app.get("/ping")
def ping() -> Response:
    return Response(status_code=200)


@app.post("/invocations")
async def invocations(request: Request) -> Response:
    body = await request.body()
    content_type = request.headers.get("content-type", "application/json")
    data = handler.input_fn(body, content_type)
    encoded, media = handler.encode(handler.predict_fn(data, handler.model), "application/json")
    return Response(encoded, media_type=media)
