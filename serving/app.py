"""The HTTP side of the SageMaker hosting contract: ``GET /ping`` and ``POST /invocations`` on starlette.

``/ping`` answers 503 until the model is loaded and warmed, then 200 without touching the model, so
health checks stay fast under load. Every error is a JSON body ``{"status": N, "message": ...}``
with no stack trace: 400 undecodable input, 406 unacceptable ``Accept``, 413 body too large (refused
from ``Content-Length`` before the body is read), 415 unsupported ``Content-Type``, 500 a failure
in prediction or encoding, 503 loading or overloaded, 504 timed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from serving import handler as handlers
from serving.batching import Batcher, QueueFull
from serving.observe import request_log
from serving.settings import ServingSettings

STREAM_TYPES = ("application/jsonlines", "text/event-stream")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": status, "message": message}, status_code=status)


@dataclass
class ServerState:
    settings: ServingSettings
    handler: handlers.Handler | None = None
    batcher: Batcher | None = None
    load_error: str | None = None


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing it as soon as it passes ``limit`` bytes (also for chunked uploads)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: ServingSettings) -> Starlette:
    state = ServerState(settings)

    def limit_torch_threads() -> None:
        # Per thread: torch.set_num_threads also sets this thread's OpenMP team size, which oneDNN
        # kernels (GELU, for one) read; set in another thread, they would still use every core.
        import torch

        torch.set_num_threads(settings.cpu_threads)

    def load() -> handlers.Handler:
        limit_torch_threads()
        return handlers.load(settings.model_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def load_and_warm() -> None:
            batcher = None
            try:
                handler = await run_in_threadpool(load)
                batch_size = settings.max_batch_size if settings.batching else 1
                batcher = Batcher(handler.answer_many, max_size=batch_size,
                                  max_delay_s=settings.max_batch_delay_ms / 1000 if settings.batching else 0,
                                  max_queue=settings.max_queue, workers=settings.workers,
                                  prepare_thread=limit_torch_threads)
                batcher.start()
                warmup = handler.warmup_invocation()
                if warmup is not None:  # through the batcher, so the threads that serve are the ones warmed
                    await batcher.submit(warmup)
            except Exception as exc:
                if batcher is not None:
                    await batcher.stop()
                state.load_error = f"{type(exc).__name__}: {handlers.one_line(exc)}"
                request_log(status=500, latency_ms=0, batch_size=0, path="load", error=state.load_error)
                return
            # Everything loaded so far (torch, the model, the server) lives as long as the process.
            # Frozen, it is never walked again by the cyclic garbage collector, whose full passes
            # over it paused every thread for 100-200 ms (the server's p99 at 32 clients).
            gc.collect()
            gc.freeze()
            state.handler, state.batcher = handler, batcher

        loader = asyncio.create_task(load_and_warm())
        yield
        loader.cancel()
        if state.batcher is not None:
            await state.batcher.stop()

    async def ping(request: Request) -> Response:
        if state.batcher is not None:
            return Response(status_code=200)
        if state.load_error:
            return error(500, f"model failed to load: {state.load_error}")
        return error(503, "model is loading")

    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        response, batch_size, problem = await _invoke(request)
        request_log(status=response.status_code, latency_ms=(time.perf_counter() - started) * 1000,
                    batch_size=batch_size, path="/invocations", error=problem)
        return response

    async def _invoke(request: Request) -> tuple[Response, int, str | None]:
        handler, batcher = state.handler, state.batcher
        if handler is None or batcher is None:
            return error(503, "model is loading"), 0, "loading"
        try:
            body = await read_body(request, settings.max_body_bytes)
            content_type = handler.content_type(request.headers.get("content-type"))
            wants_stream = handlers.media_type(request.headers.get("accept")) in STREAM_TYPES
            accept = handlers.media_type(request.headers.get("accept")) if wants_stream else \
                handler.accept(request.headers.get("accept"))
            if wants_stream and handler.stream_fn is None:
                raise handlers.RequestError(406, "this model does not stream; accept application/json")
            if handler.transform_fn is not None:
                encoded, media = await asyncio.wait_for(
                    run_in_threadpool(handler.transform, body, content_type, accept), settings.request_timeout_s)
                return Response(encoded, media_type=media), 1, None
            if wants_stream:
                assert handler.stream_fn is not None
                data = await run_in_threadpool(handler.decode, body, content_type)
                pieces = handler.stream_fn(data, handler.model)
                return StreamingResponse(iterate_in_threadpool(_as_bytes(pieces)), media_type=accept), 1, None
            # Cancelled on timeout: dropped if still queued; a batch already computing finishes without it.
            future = batcher.submit(handlers.Invocation(body, content_type, accept))
            async with asyncio.timeout(settings.request_timeout_s):
                (encoded, media), batch_size = await future
            return Response(encoded, media_type=media, headers={"x-hoist-batch-size": str(batch_size)}), \
                batch_size, None
        except BodyTooLarge:
            return error(413, f"request body is larger than {settings.max_body_bytes} bytes"), 0, "too large"
        except handlers.RequestError as exc:
            return error(exc.status, str(exc)), 0, str(exc)
        except QueueFull as exc:
            return error(503, f"server is at capacity ({exc}); retry with backoff"), 0, "overloaded"
        except TimeoutError:
            return error(504, f"no answer within {settings.request_timeout_s:g} s"), 0, "timeout"
        except Exception as exc:  # prediction or encoding failed: a 500, never a stack trace
            message = f"{type(exc).__name__}: {handlers.one_line(exc)}"
            return error(500, f"inference failed: {message}"), 0, message

    return Starlette(routes=[Route("/ping", ping, methods=["GET"]),
                             Route("/invocations", invocations, methods=["POST"])],
                     lifespan=lifespan)


def _as_bytes(pieces: Iterator[Any]) -> Iterator[bytes]:
    for piece in pieces:
        yield piece if isinstance(piece, bytes) else str(piece).encode()
