"""The SageMaker PyTorch inference toolkit's handler contract, so an existing ``inference.py`` runs unchanged.

``code/inference.py`` in the model directory may define ``model_fn(model_dir)``, ``input_fn(body,
content_type)``, ``predict_fn(data, model)``, ``output_fn(prediction, accept)``, or ``transform_fn(model,
body, content_type, accept)`` instead of the last three; missing ones get the toolkit's defaults
(JSON in, ``model(tensor)``, JSON out). hoist adds optional hooks:

- ``predict_batch_fn(list_of_data, model) -> list_of_predictions`` — lets dynamic batching run one
  forward pass for several requests;
- ``stream_fn(data, model) -> Iterator[str | bytes]`` — pieces sent as a chunked response;
- ``SUPPORTED_CONTENT_TYPES`` / ``SUPPORTED_ACCEPT_TYPES`` — answered with 415 / 406 up front;
- ``WARMUP_REQUEST`` — a sample body run once before ``/ping`` reports healthy.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

JSON = "application/json"
NPY = "application/x-npy"


class RequestError(Exception):
    """A request the handler cannot take; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def default_model_fn(model_dir: str) -> Any:
    import torch

    path = Path(model_dir) / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"no code/inference.py with model_fn and no model.pt (TorchScript) in {model_dir}")
    return torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]


def default_input_fn(body: bytes, content_type: str) -> Any:
    if content_type == JSON:
        return json.loads(body)
    if content_type == NPY:
        import numpy as np

        return np.load(io.BytesIO(body), allow_pickle=False)
    raise RequestError(415, f"unsupported content type {content_type!r}; send {JSON} or {NPY}")


def default_predict_fn(data: Any, model: Any) -> Any:
    import torch

    with torch.inference_mode():
        return model(torch.as_tensor(data))


def default_output_fn(prediction: Any, accept: str) -> Any:
    if hasattr(prediction, "tolist"):
        prediction = prediction.tolist()
    if accept == JSON:
        return json.dumps(prediction)
    raise RequestError(406, f"cannot answer in {accept!r}; accept {JSON}")


def media_type(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Invocation:
    """One request as the batch worker receives it: the body and the negotiated media types."""

    body: bytes
    content_type: str
    accept: str


@dataclass
class Handler:
    """A loaded model and the functions that serve it."""

    model: Any
    input_fn: Callable[[bytes, str], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, str], Any]
    transform_fn: Callable[[Any, bytes, str, str], Any] | None
    predict_batch_fn: Callable[[list[Any], Any], list[Any]] | None
    stream_fn: Callable[[Any, Any], Iterator[str | bytes]] | None
    content_types: tuple[str, ...]
    accept_types: tuple[str, ...]
    warmup_request: Any = None
    """A sample request body (JSON-able) run once before /ping turns healthy."""

    def warmup_invocation(self) -> Invocation | None:
        """``WARMUP_REQUEST`` as a request to run once before ``/ping`` reports healthy."""
        if self.warmup_request is None:
            return None
        content_type = self.content_types[0] if self.content_types else JSON
        return Invocation(json.dumps(self.warmup_request).encode(), content_type, self.accept(None))

    def content_type(self, header: str | None) -> str:
        content_type = media_type(header) or JSON
        if self.content_types and content_type not in self.content_types:
            raise RequestError(415, f"unsupported content type {content_type!r}; send {', '.join(self.content_types)}")
        return content_type

    def accept(self, header: str | None) -> str:
        wanted = [media_type(part) for part in (header or "").split(",") if part.strip()]
        if not wanted or any(w in ("*/*", "application/*") for w in wanted):
            return self.accept_types[0] if self.accept_types else JSON
        for media in wanted:
            if not self.accept_types or media in self.accept_types:
                return media
        raise RequestError(406, f"cannot answer in {', '.join(wanted)}; accept {', '.join(self.accept_types)}")

    def decode(self, body: bytes, content_type: str) -> Any:
        try:
            return self.input_fn(body, content_type)
        except RequestError:
            raise
        except Exception as exc:
            status = 415 if type(exc).__name__ == "UnsupportedFormatError" else 400
            raise RequestError(status, one_line(exc)) from None

    def predict_many(self, batch: list[Any]) -> list[Any]:
        """Predictions for several decoded requests, in one call when the handler supports it."""
        if self.predict_batch_fn is not None and len(batch) > 1:
            predictions = self.predict_batch_fn(batch, self.model)
            if len(predictions) != len(batch):
                raise RuntimeError(f"predict_batch_fn returned {len(predictions)} results for {len(batch)} inputs")
            return list(predictions)
        return [self.predict_fn(data, self.model) for data in batch]

    def answer_many(self, invocations: list[Invocation]) -> list[tuple[bytes, str] | Exception]:
        """Each request's encoded answer, or the exception that fails it. Bad input or an answer that
        cannot be encoded fails only its own request; the requests that decoded are predicted together,
        and a failing prediction fails them all."""
        answers: dict[int, tuple[bytes, str] | Exception] = {}
        decoded: dict[int, Any] = {}
        for i, invocation in enumerate(invocations):
            try:
                decoded[i] = self.decode(invocation.body, invocation.content_type)
            except Exception as exc:
                answers[i] = exc
        if decoded:
            try:
                predictions = self.predict_many(list(decoded.values()))
            except Exception as exc:
                answers.update(dict.fromkeys(decoded, exc))
            else:
                for i, prediction in zip(decoded, predictions, strict=True):
                    try:
                        answers[i] = self.encode(prediction, invocations[i].accept)
                    except Exception as exc:
                        answers[i] = exc
        return [answers[i] for i in range(len(invocations))]

    def encode(self, prediction: Any, accept: str) -> tuple[bytes, str]:
        result = self.output_fn(prediction, accept)
        return _body(result, accept)

    def transform(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        assert self.transform_fn is not None
        return _body(self.transform_fn(self.model, body, content_type, accept), accept)


def _body(result: Any, accept: str) -> tuple[bytes, str]:
    if isinstance(result, tuple) and len(result) == 2:
        result, accept = result
    if isinstance(result, str):
        return result.encode(), accept
    if isinstance(result, bytes | bytearray):
        return bytes(result), accept
    return json.dumps(result).encode(), JSON


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:500]


def _import_user_module(model_dir: Path) -> ModuleType | None:
    code = model_dir / "code"
    script = code / "inference.py"
    if not script.exists():
        return None
    # As the toolkit does: code/ is importable, so inference.py can import its neighbours.
    if str(code) not in sys.path:
        sys.path.insert(0, str(code))
    spec = importlib.util.spec_from_file_location("inference", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["inference"] = module
    spec.loader.exec_module(module)
    return module


def load(model_dir: Path) -> Handler:
    """Import ``code/inference.py`` (if any) and load the model with its ``model_fn``."""
    module = _import_user_module(model_dir)

    def hook(name: str, default: Any = None) -> Any:
        return getattr(module, name, default) if module is not None else default

    model = hook("model_fn", default_model_fn)(str(model_dir))
    has_own_input = module is not None and hasattr(module, "input_fn")
    content_types = tuple(hook("SUPPORTED_CONTENT_TYPES", () if has_own_input else (JSON, NPY)))
    has_own_output = module is not None and hasattr(module, "output_fn")
    accept_types = tuple(hook("SUPPORTED_ACCEPT_TYPES", () if has_own_output else (JSON,)))
    return Handler(
        model=model,
        input_fn=hook("input_fn", default_input_fn),
        predict_fn=hook("predict_fn", default_predict_fn),
        output_fn=hook("output_fn", default_output_fn),
        transform_fn=hook("transform_fn"),
        predict_batch_fn=hook("predict_batch_fn"),
        stream_fn=hook("stream_fn"),
        content_types=content_types,
        accept_types=accept_types,
        warmup_request=hook("WARMUP_REQUEST"),
    )
