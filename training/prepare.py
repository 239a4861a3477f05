"""``python -m training.prepare``: raw text in, token shards and ``manifest.json`` out.

1. **Read** every ``*.txt`` (one document per file) and ``*.jsonl`` (one document per line, from a
   text field) under the input directory or ``s3://`` prefix.
2. **Clean**: Unicode NFC, control and format characters removed (newlines and tabs kept),
   whitespace normalised, documents outside the length bounds dropped, exact duplicates (same
   cleaned text) dropped; the report counts what each step removed.
3. **Tokenise**: UTF-8 bytes (vocabulary 257: 256 bytes and an end-of-document token), a BPE
   tokenizer trained on the cleaned input with the ``tokenizers`` library (saved as
   ``tokenizer.json`` beside the shards so training and serving use the same one), or, with
   ``--base-model``, that Hugging Face checkpoint's own tokenizer and chat template: JSON lines with
   ``messages`` become chat examples whose loss is masked to the assistant turns, other documents
   plain text examples; the manifest records the tokenizer's sha256, and training refuses shards
   whose tokenizer is not its model's.
4. **Write** shards of little-endian ``uint16`` / ``uint32`` tokens (with a ``uint8`` loss mask and
   the examples' end offsets for chat data), then ``manifest.json`` last, in the format
   ``training.data`` reads (DESIGN.md).

Reading, cleaning and tokenising run over ``--workers`` processes; the result does not depend on
how many. Shard names carry their content hash and the manifest is written only after every shard,
so a crash never leaves a listed shard half-written, and a re-run of the same input with the same
settings finds the finished manifest and does nothing. Shards of an earlier, different run are
removed only after the new manifest is in place.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from training.data import DTYPES, FORMAT_VERSION, Manifest, Shard, ShardFile, Tokenizer
from training.storage import Store, cache_dir, open_store

Document = str | tuple[tuple[str, str], ...]
"""A plain text, or a conversation as (role, content) pairs."""

BYTE_VOCAB = 257
END_OF_DOCUMENT = 256
BPE_END = "<|endoftext|>"
_WHITESPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
KEPT_CONTROLS = frozenset("\n\t")
CHAT_ROLES = ("system", "user", "assistant")


class PrepareError(ValueError):
    """Input or settings that cannot be prepared; one line."""


@dataclass(frozen=True)
class Settings:
    tokenizer: str = "byte"
    vocab_size: int = 8192
    text_field: str = "text"
    min_chars: int = 1
    max_chars: int = 1_000_000
    shard_tokens: int = 1 << 24
    base_model: str = ""
    """A Hugging Face checkpoint (directory or s3:// prefix) whose tokenizer and chat template encode
    the data; empty uses ``tokenizer``."""
    messages_field: str = "messages"

    def check(self) -> None:
        if self.tokenizer not in ("byte", "bpe"):
            raise PrepareError(f"--tokenizer {self.tokenizer!r}: allowed: byte, bpe")
        if self.base_model and self.tokenizer != "byte":
            raise PrepareError("--tokenizer applies without --base-model; with it the model's own tokenizer is used")
        if not 0 < self.min_chars <= self.max_chars:
            raise PrepareError(f"--min-chars {self.min_chars} / --max-chars {self.max_chars}: need 0 < min <= max")
        if self.shard_tokens < 1 or not 300 <= self.vocab_size <= 1 << 20:
            raise PrepareError("--shard-tokens must be at least 1 and --vocab-size between 300 and 1048576")

    def arguments(self) -> list[str]:
        """These settings as ``python -m training.prepare`` arguments, checked first: every backend
        (local processes, a SageMaker Processing job) runs the stage with exactly these."""
        self.check()
        return ["--tokenizer", self.tokenizer, "--vocab-size", str(self.vocab_size), "--shard-tokens",
                str(self.shard_tokens), "--min-chars", str(self.min_chars), "--max-chars", str(self.max_chars),
                "--text-field", self.text_field, "--messages-field", self.messages_field,
                *(["--base-model", self.base_model] if self.base_model else [])]


def clean(text: str) -> tuple[str, int]:
    """The cleaned text and how many control or format characters were removed."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    kept = [ch for ch in text if ch in KEPT_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cf")]
    removed = len(text) - len(kept)
    lines = (_WHITESPACE.sub(" ", line).strip() for line in "".join(kept).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip(), removed


def _conversation(value: object) -> Document | None:
    """``messages`` as (role, content) pairs: known roles, text contents, at least one assistant turn."""
    if not isinstance(value, list) or not value:
        return None
    turns = []
    for item in value:
        if not isinstance(item, dict) or item.get("role") not in CHAT_ROLES or not isinstance(item.get("content"), str):
            return None
        turns.append((str(item["role"]), str(item["content"])))
    return tuple(turns) if any(role == "assistant" for role, _ in turns) else None


def _documents(name: str, data: bytes, settings: Settings, counts: Counter[str]) -> Iterator[Document]:
    text = data.decode("utf-8", errors="replace")
    if name.endswith(".txt"):
        yield text
        return
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            counts["invalid_lines"] += 1
            continue
        if settings.base_model and isinstance(record, dict) and settings.messages_field in record:
            conversation = _conversation(record[settings.messages_field])
            if conversation is None:
                counts["invalid_conversations"] += 1
            else:
                yield conversation
            continue
        value = record.get(settings.text_field) if isinstance(record, dict) else None
        if isinstance(value, str):
            yield value
        else:
            counts["invalid_lines"] += 1


def _clean_document(raw: Document) -> tuple[Document, int, int]:
    """The cleaned document, control characters removed, and its length in characters."""
    if isinstance(raw, str):
        text, removed = clean(raw)
        return text, removed, len(text)
    turns = [(role, *clean(content)) for role, content in raw]
    return (tuple((role, text) for role, text, _ in turns), sum(r for _, _, r in turns),
            sum(len(text) for _, text, _ in turns))


def _clean_file(task: tuple[str, str, Settings]) -> tuple[list[Document], Counter[str], str]:
    """Read and clean one input file in a worker: (kept documents, counts, sha256 of the raw file)."""
    uri, name, settings = task
    data = open_store(uri).read_bytes(name) or b""
    counts: Counter[str] = Counter()
    kept = []
    for raw in _documents(name, data, settings, counts):
        counts["documents_read"] += 1
        document, removed, length = _clean_document(raw)
        counts["control_characters_removed"] += removed
        if length < settings.min_chars:
            counts["dropped_too_short"] += 1
        elif length > settings.max_chars:
            counts["dropped_too_long"] += 1
        else:
            kept.append(document)
    counts["raw_bytes"] += len(data)
    return kept, counts, hashlib.sha256(data).hexdigest()


def _tokenize(task: tuple[list[str], str | None]) -> np.ndarray:
    documents, bpe_json = task
    if bpe_json is None:
        pieces = [np.frombuffer(doc.encode(), dtype=np.uint8).astype(np.uint32) for doc in documents]
        return np.concatenate([np.append(p, END_OF_DOCUMENT) for p in pieces]) if pieces else np.zeros(0, np.uint32)
    from tokenizers import Tokenizer as HfTokenizer

    tokenizer = HfTokenizer.from_str(bpe_json)
    end = tokenizer.token_to_id(BPE_END)
    ids = [np.array([*encoding.ids, end], dtype=np.uint32) for encoding in tokenizer.encode_batch(documents)]
    return np.concatenate(ids) if ids else np.zeros(0, np.uint32)


def _train_bpe(documents: list[str], vocab_size: int) -> str:
    from tokenizers import Tokenizer as HfTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tokenizer = HfTokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BPE_END], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(documents, trainer=trainer)
    text: str = tokenizer.to_str()
    return text


def input_files(store: Store) -> list[str]:
    files = [name for name in store.files() if name.endswith((".txt", ".jsonl"))]
    if not files:
        raise PrepareError(f"{store.uri}: no *.txt or *.jsonl files to prepare")
    return files


def _chunks(items: Sequence[Document], count: int) -> list[list[Document]]:
    size = max(1, -(-len(items) // max(1, count)))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _crash_point() -> int:
    # Fault injection for tests: SIGKILL this process after writing this many shards.
    return int(os.environ.get("HOIST_PREPARE_CRASH_AFTER_SHARDS", "0"))


def prepare(input_uri: str, output_uri: str, settings: Settings, workers: int = 1) -> dict[str, object]:
    """Prepare ``input_uri`` into ``output_uri``; returns the report (also in the manifest)."""
    settings.check()
    started = time.perf_counter()
    source, target = open_store(input_uri), open_store(output_uri)
    names = input_files(source)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        cleaned = list(pool.map(_clean_file, [(input_uri, name, settings) for name in names]))
        model = _base_model(settings.base_model) if settings.base_model else None
        fingerprint = hashlib.sha256(json.dumps(
            [[name, digest] for name, (_, _, digest) in zip(names, cleaned, strict=True)]
            + [asdict(settings), model.tokenizer_sha256 if model else None], sort_keys=True).encode()).hexdigest()
        existing = target.read_text("manifest.json")
        if existing is not None:
            previous = Manifest.model_validate_json(existing)
            if previous.fingerprint == fingerprint and all(target.exists(s.path) for s in previous.shards):
                return {"status": "already prepared", "output": output_uri, "shards": len(previous.shards),
                        "tokens": sum(s.tokens for s in previous.shards), "cleaning": previous.cleaning}

        counts: Counter[str] = Counter()
        seen: set[str] = set()
        documents: list[Document] = []
        for kept, file_counts, _ in cleaned:
            counts.update(file_counts)
            for text in kept:
                digest = hashlib.sha256(json.dumps(text).encode()).hexdigest()
                if digest in seen:
                    counts["dropped_duplicates"] += 1
                    continue
                seen.add(digest)
                documents.append(text)
        counts["documents_kept"] = len(documents)
        if not documents:
            raise PrepareError(f"{input_uri}: no document survived cleaning ({dict(counts)})")

        if model is not None:
            encoded = list(pool.map(_encode_examples, [(chunk, str(model.path))
                                                       for chunk in _chunks(documents, workers * 4)]))
            return _finish(target, output_uri, started, workers, counts, fingerprint,
                           _write_example_shards(target, encoded, model.vocab_size, settings.shard_tokens),
                           Tokenizer(type="hf", vocab_size=model.vocab_size, sha256=model.tokenizer_sha256,
                                     base_model=settings.base_model))
        texts = [d for d in documents if isinstance(d, str)]
        bpe_json = _train_bpe(texts, settings.vocab_size) if settings.tokenizer == "bpe" else None
        parts = list(pool.map(_tokenize, [(chunk, bpe_json) for chunk in _chunks(texts, workers * 4)]))
    tokens = np.concatenate(parts)
    vocab = BYTE_VOCAB if bpe_json is None else _bpe_vocab(bpe_json)
    dtype_name = "uint16" if vocab <= 1 << 16 else "uint32"
    if bpe_json is not None:
        target.write_text("tokenizer.json", bpe_json)
    shards = _write_shards(target, tokens.astype(DTYPES[dtype_name]), settings.shard_tokens)
    return _finish(target, output_uri, started, workers, counts, fingerprint, shards,
                   Tokenizer(type=settings.tokenizer, vocab_size=vocab, file="tokenizer.json" if bpe_json else None))


def _finish(target: Store, output_uri: str, started: float, workers: int, counts: Counter[str], fingerprint: str,
            shards: list[Shard], tokenizer: Tokenizer) -> dict[str, object]:
    """Write the manifest (last), remove what earlier runs left, and report."""
    dtype_name = "uint16" if tokenizer.vocab_size <= 1 << 16 else "uint32"
    manifest = Manifest(format_version=FORMAT_VERSION, dtype=dtype_name, shards=shards, cleaning=dict(counts),
                        tokenizer=tokenizer, fingerprint=fingerprint)
    target.write_text("manifest.json", manifest.model_dump_json(indent=2, exclude_none=True))
    # Only now, with the new manifest in place, are shards of earlier runs unreferenced.
    listed = {f.path for s in shards for f in (s, s.mask, s.ends) if f is not None}
    for name in target.files():
        if name.startswith("shard-") and name not in listed:
            target.delete(name)
    seconds = time.perf_counter() - started
    report: dict[str, object] = {
        "status": "prepared", "output": output_uri, "shards": len(shards), "tokens": sum(s.tokens for s in shards),
        "vocab_size": tokenizer.vocab_size, "cleaning": dict(counts), "seconds": round(seconds, 3),
        "raw_mb_per_second": round(counts["raw_bytes"] / 1e6 / seconds, 3), "workers": workers}
    if shards[0].examples is not None:
        report["examples"] = sum(s.examples or 0 for s in shards)
    return report


@dataclass(frozen=True)
class _BaseModel:
    path: Path
    tokenizer_sha256: str
    vocab_size: int


def _base_model(uri: str) -> _BaseModel:
    """The base checkpoint's tokenizer, checked (the model's own, so its ids are the model's)."""
    from training.llm import base, chat  # transformers is imported only for this path

    try:
        checkpoint = base.open_checkpoint(uri, cache_dir("checkpoints"))
    except base.CheckpointError as exc:
        raise PrepareError(str(exc)) from None
    if not checkpoint.has_chat_template:
        raise PrepareError(f"{uri}: the tokenizer has no chat template (chat_template.jinja or tokenizer_config.json)")
    return _BaseModel(checkpoint.path, checkpoint.tokenizer_sha256, len(chat.load_tokenizer(checkpoint.path)))


def _encode_examples(task: tuple[list[Document], str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Encode documents in a worker with the base model's tokenizer: (token ids, loss mask) each."""
    from training.llm import chat

    documents, model_path = task
    tokenizer = chat.load_tokenizer(Path(model_path))
    encoded = []
    for document in documents:
        if isinstance(document, str):
            encoded.append(chat.encode_text(tokenizer, document))
            continue
        try:
            encoded.append(chat.encode_chat(tokenizer, [chat.Message(r, c) for r, c in document]))
        except chat.ChatError as exc:
            raise PrepareError(f"{model_path}: {exc}") from None
    return encoded


def _write_example_shards(target: Store, encoded: list[list[tuple[np.ndarray, np.ndarray]]], vocab_size: int,
                          shard_tokens: int) -> list[Shard]:
    """Whole examples per shard: tokens, the loss mask (uint8) and the examples' end offsets (uint64)."""
    dtype = DTYPES["uint16" if vocab_size <= 1 << 16 else "uint32"]
    examples = [example for part in encoded for example in part]
    shards: list[Shard] = []
    start, crash_after = 0, _crash_point()
    while start < len(examples):
        stop, total = start, 0
        while stop < len(examples) and (total == 0 or total + len(examples[stop][0]) <= shard_tokens):
            total += len(examples[stop][0])
            stop += 1
        batch = examples[start:stop]
        tokens = np.concatenate([ids for ids, _ in batch]).astype(dtype)
        mask = np.concatenate([m for _, m in batch]).astype(np.uint8)
        ends = np.cumsum([len(ids) for ids, _ in batch]).astype("<u8")
        digest = hashlib.sha256(tokens.tobytes() + mask.tobytes()).hexdigest()[:12]
        files = [_put(target, f"shard-{len(shards):05d}-{digest}{suffix}", data.tobytes())
                 for suffix, data in ((".bin", tokens), (".mask", mask), (".ends", ends))]
        shards.append(Shard(path=files[0].path, tokens=len(tokens), sha256=files[0].sha256, mask=files[1],
                            ends=files[2], examples=len(batch)))
        start = stop
        if crash_after and len(shards) >= crash_after:
            os.kill(os.getpid(), signal.SIGKILL)
    return shards


def _put(target: Store, name: str, data: bytes) -> ShardFile:
    target.write_bytes(name, data)
    return ShardFile(path=name, sha256=hashlib.sha256(data).hexdigest())


def _bpe_vocab(bpe_json: str) -> int:
    from tokenizers import Tokenizer as HfTokenizer

    size: int = HfTokenizer.from_str(bpe_json).get_vocab_size()
    return size


def _write_shards(target: Store, tokens: np.ndarray, shard_tokens: int) -> list[Shard]:
    shards = []
    crash_after = _crash_point()
    for index, start in enumerate(range(0, len(tokens), shard_tokens)):
        data = tokens[start:start + shard_tokens].tobytes()
        digest = hashlib.sha256(data).hexdigest()
        name = f"shard-{index:05d}-{digest[:12]}.bin"
        target.write_bytes(name, data)
        shards.append(Shard(path=name, tokens=len(data) // tokens.itemsize, sha256=digest))
        if crash_after and index + 1 >= crash_after:
            os.kill(os.getpid(), signal.SIGKILL)
    return shards


def host_output(output_uri: str, opt_ml: str = os.environ.get("HOIST_OPT_ML", "/opt/ml")) -> str:
    """Where this host writes. In a SageMaker Processing job over several instances each instance
    prepares its share of the input (sharded by S3 key) into ``<output>/<host>``; ``--merge`` then
    writes the one manifest that lists every host's shards."""
    config = Path(opt_ml) / "config" / "resourceconfig.json"
    if not config.exists():
        return output_uri
    resources = json.loads(config.read_text())
    if len(resources.get("hosts", [])) <= 1:
        return output_uri
    return f"{output_uri.rstrip('/')}/{resources['current_host']}"


def merge(output_uri: str) -> dict[str, object]:
    """One manifest over the per-host manifests under ``output_uri`` (byte-level tokens only: hosts
    that trained their own BPE would disagree on token ids)."""
    store = open_store(output_uri)
    hosts = [name.removesuffix("/manifest.json") for name in store.files() if name.endswith("/manifest.json")]
    if not hosts:
        raise PrepareError(f"{output_uri}: no <host>/manifest.json to merge")
    manifests = [Manifest.model_validate_json(store.read_text(f"{host}/manifest.json") or "") for host in hosts]
    if any(m.tokenizer.type != "byte" or m.dtype != manifests[0].dtype for m in manifests):
        raise PrepareError(f"{output_uri}: only byte-level shards of one dtype can be merged across hosts")
    counts: Counter[str] = Counter()
    shards = []
    for host, manifest in zip(hosts, manifests, strict=True):
        counts.update(manifest.cleaning)
        shards += [s.model_copy(update={"path": f"{host}/{s.path}"}) for s in manifest.shards]
    merged = Manifest(format_version=FORMAT_VERSION, tokenizer=manifests[0].tokenizer, dtype=manifests[0].dtype,
                      shards=shards, cleaning=dict(counts),
                      fingerprint=hashlib.sha256("".join(m.fingerprint or "" for m in manifests).encode()).hexdigest())
    store.write_text("manifest.json", merged.model_dump_json(indent=2))
    return {"status": "merged", "output": output_uri, "hosts": hosts, "shards": len(shards),
            "tokens": sum(s.tokens for s in shards), "cleaning": dict(counts)}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m training.prepare", description=__doc__.split("\n\n")[0])
    root.add_argument("--input", help="directory or s3:// prefix of *.txt / *.jsonl files")
    root.add_argument("--output", required=True, help="directory or s3:// prefix for shards and manifest.json")
    root.add_argument("--merge", action="store_true",
                      help="write one manifest over the <output>/<host>/ manifests of a multi-instance job")
    root.add_argument("--tokenizer", default="byte", help="byte (default) or bpe")
    root.add_argument("--vocab-size", type=int, default=8192, help="BPE vocabulary size")
    root.add_argument("--text-field", default="text", help="the JSON lines field holding the text")
    root.add_argument("--min-chars", type=int, default=1, help="drop cleaned documents shorter than this")
    root.add_argument("--max-chars", type=int, default=1_000_000, help="drop cleaned documents longer than this")
    root.add_argument("--shard-tokens", type=int, default=1 << 24, help="tokens per shard")
    root.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per CPU)")
    root.add_argument("--base-model", default="", help="Hugging Face checkpoint (directory or s3:// prefix) whose "
                                                       "tokenizer and chat template encode the data")
    root.add_argument("--messages-field", default="messages", help="the JSON lines field holding a conversation")
    return root


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    settings = Settings(tokenizer=args.tokenizer, vocab_size=args.vocab_size, text_field=args.text_field,
                        min_chars=args.min_chars, max_chars=args.max_chars, shard_tokens=args.shard_tokens,
                        base_model=args.base_model, messages_field=args.messages_field)
    try:
        if args.workers < 1:
            raise PrepareError(f"--workers {args.workers}: must be at least 1")
        if args.merge:
            report = merge(args.output)
        elif not args.input:
            raise PrepareError("--input is required (or --merge)")
        else:
            report = prepare(args.input, host_output(args.output), settings, workers=args.workers)
    except (PrepareError, ValueError) as exc:
        print(f"training.prepare: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
