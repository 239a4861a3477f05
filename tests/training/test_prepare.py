"""`python -m training.prepare`: cleaning counts, shards that the training data path reads back,
BPE, worker-count independence, idempotence, crash safety, and s3:// input and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.training.s3server import client, s3_server
from tests.training.shards import read_tokens
from training.data import ShardDataset, read_manifest
from training.prepare import BPE_END, END_OF_DOCUMENT, Settings, clean, prepare

ROOT = Path(__file__).resolve().parents[2]

# Six documents in: "cafe" twice (once decomposed: the same text after NFC), "dup" twice, an empty
# one, and a line that is not JSON. The first has a bell character, CRLFs, and runs of blanks.
CORPUS = {
    "a.txt": "Hello   world.\r\n\r\n\r\n\r\nSecond\tpara\x07graph.",
    "b.jsonl": '{"text": "Cafe\\u0301 au lait"}\n{"text": "Caf\\u00e9 au lait"}\nnot json\n'
               '{"text": ""}\n{"text": "dup"}\n{"text": "dup"}\n',
    "notes.md": "not an input format: skipped",
}
KEPT = ["Hello world.\n\nSecond paragraph.", "Café au lait", "dup"]


def write_corpus(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def run_prepare(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "training.prepare", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300, check=False)


def test_clean_normalises_and_strips() -> None:
    assert clean("Cafe\u0301\u200b  x\r\n\r\n\r\n\ry\x00") == ("Café x\n\ny", 2)


def test_cleaning_and_dedupe_counts_are_exact(tmp_path: Path) -> None:
    report = prepare(str(write_corpus(tmp_path / "in", CORPUS)), str(tmp_path / "out"), Settings(), workers=1)
    assert report["cleaning"] == {"documents_read": 6, "control_characters_removed": 1, "dropped_too_short": 1,
                                  "invalid_lines": 1, "dropped_duplicates": 2, "documents_kept": 3,
                                  "raw_bytes": len(CORPUS["a.txt"].encode()) + len(CORPUS["b.jsonl"].encode())}
    assert read_manifest(str(tmp_path / "out")).cleaning == report["cleaning"]


def test_shards_round_trip_through_the_training_data_path(tmp_path: Path) -> None:
    prepare(str(write_corpus(tmp_path / "in", CORPUS)), str(tmp_path / "out"), Settings(shard_tokens=7))
    manifest = read_manifest(str(tmp_path / "out"))
    assert len(manifest.shards) > 3 and manifest.dtype == "uint16" and manifest.tokenizer.vocab_size == 257
    dataset = ShardDataset(str(tmp_path / "out"), block_size=4, seed=0)
    expected = [t for doc in KEPT for t in (*doc.encode(), END_OF_DOCUMENT)]
    assert read_tokens(dataset.shards.uri) == expected


def test_bpe_tokenizer_is_saved_and_decodes_the_shards(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    corpus = {f"doc{i}.txt": f"the quick brown fox {i} jumps over the lazy dog " * 5 for i in range(30)}
    prepare(str(write_corpus(tmp_path / "in", corpus)), str(tmp_path / "out"), Settings(tokenizer="bpe",
                                                                                         vocab_size=400))
    manifest = read_manifest(str(tmp_path / "out"))
    assert manifest.tokenizer.type == "bpe" and manifest.tokenizer.file == "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(tmp_path / "out" / "tokenizer.json"))
    assert manifest.tokenizer.vocab_size == tokenizer.get_vocab_size() <= 400
    tokens = read_tokens(str(tmp_path / "out"))
    end = tokenizer.token_to_id(BPE_END)
    documents: list[str] = []
    current: list[int] = []
    for token in tokens:
        if token == end:
            documents.append(tokenizer.decode(current))
            current = []
        else:
            current.append(token)
    assert documents == [clean(corpus[name])[0] for name in sorted(corpus)]


def test_worker_count_does_not_change_the_result(tmp_path: Path) -> None:
    corpus = {f"part-{i}.jsonl": "".join(json.dumps({"text": f"doc {i}-{j} " * (j + 1)}) + "\n" for j in range(20))
              for i in range(6)}
    source = str(write_corpus(tmp_path / "in", corpus))
    one = prepare(source, str(tmp_path / "one"), Settings(shard_tokens=500), workers=1)
    two = prepare(source, str(tmp_path / "two"), Settings(shard_tokens=500), workers=2)
    assert one["cleaning"] == two["cleaning"]
    assert read_manifest(str(tmp_path / "one")) == read_manifest(str(tmp_path / "two"))


def test_a_rerun_of_the_same_input_does_nothing(tmp_path: Path) -> None:
    source = str(write_corpus(tmp_path / "in", CORPUS))
    prepare(source, str(tmp_path / "out"), Settings(shard_tokens=7))
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    again = prepare(source, str(tmp_path / "out"), Settings(shard_tokens=7))
    assert again["status"] == "already prepared"
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == stamps
    # Different settings are a different dataset.
    assert prepare(source, str(tmp_path / "out"), Settings(shard_tokens=9))["status"] == "prepared"


@pytest.mark.timeout(300)
def test_a_crash_midway_never_lists_a_partial_shard_and_a_rerun_completes(tmp_path: Path) -> None:
    old = str(write_corpus(tmp_path / "old", {"x.txt": "an earlier dataset " * 20}))
    new = str(write_corpus(tmp_path / "new", {f"{i}.txt": f"document number {i} " * 30 for i in range(12)}))
    out = tmp_path / "out"
    assert run_prepare("--input", old, "--output", str(out), "--shard-tokens", "64").returncode == 0
    before = read_manifest(str(out))

    crashed = run_prepare("--input", new, "--output", str(out), "--shard-tokens", "256", "--workers", "2",
                          env={"HOIST_PREPARE_CRASH_AFTER_SHARDS": "3"})
    assert crashed.returncode == -9
    # The earlier manifest still stands, and every shard it lists is intact.
    assert read_manifest(str(out)) == before
    ShardDataset(str(out), block_size=8, seed=0)

    rerun = run_prepare("--input", new, "--output", str(out), "--shard-tokens", "256", "--workers", "2")
    assert rerun.returncode == 0, rerun.stderr
    clean_run = run_prepare("--input", new, "--output", str(tmp_path / "clean"), "--shard-tokens", "256")
    assert clean_run.returncode == 0
    assert read_manifest(str(out)) == read_manifest(str(tmp_path / "clean"))
    # Shards of the earlier dataset are gone once the new manifest is in place.
    assert sorted(p.name for p in out.glob("shard-*")) == [s.path for s in read_manifest(str(out)).shards]


@pytest.mark.parametrize(("args", "message"), [
    (["--tokenizer", "words"], "--tokenizer 'words': allowed: byte, bpe"),
    (["--min-chars", "10", "--max-chars", "5"], "need 0 < min <= max"),
    (["--workers", "0"], "--workers 0: must be at least 1"),
])
def test_bad_settings_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_prepare("--input", str(write_corpus(tmp_path / "in", CORPUS)), "--output", str(tmp_path / "o"), *args)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_an_input_without_text_files_is_one_line(tmp_path: Path) -> None:
    result = run_prepare("--input", str(write_corpus(tmp_path / "in", {"x.csv": "a,b"})), "--output", str(tmp_path))
    assert result.returncode == 2 and "no *.txt or *.jsonl files to prepare" in result.stderr


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    with s3_server("hoist-test-datasets") as env:
        yield env


@pytest.mark.slow
def test_s3_input_and_output(s3_env: dict[str, str], tmp_path: Path) -> None:
    s3 = client(s3_env)
    for name, text in CORPUS.items():
        s3.put_object(Bucket="hoist-test-datasets", Key=f"raw/{name}", Body=text.encode())
    result = run_prepare("--input", "s3://hoist-test-datasets/raw", "--output", "s3://hoist-test-datasets/prepared",
                         "--shard-tokens", "7", env=s3_env)
    assert result.returncode == 0, result.stderr
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="hoist-test-datasets", Prefix="prepared/")["Contents"]}
    manifest = json.loads(s3.get_object(Bucket="hoist-test-datasets", Key="prepared/manifest.json")["Body"].read())
    assert keys == {"prepared/manifest.json", *(f"prepared/{s['path']}" for s in manifest["shards"])}
    tokens = np.concatenate([np.frombuffer(s3.get_object(Bucket="hoist-test-datasets", Key=f"prepared/{s['path']}")
                                           ["Body"].read(), dtype="<u2") for s in manifest["shards"]])
    assert tokens.tolist() == [t for doc in KEPT for t in (*doc.encode(), END_OF_DOCUMENT)]


def test_hosts_of_a_processing_job_write_apart_and_merge_into_one_manifest(tmp_path: Path) -> None:
    from training.prepare import host_output, merge

    out = str(tmp_path / "out")
    halves = ({"a.txt": "first host's document " * 10}, {"b.txt": "second host's document " * 10})
    for host, files in zip(("algo-1", "algo-2"), halves, strict=True):
        opt_ml = tmp_path / host / "opt" / "ml"
        (opt_ml / "config").mkdir(parents=True)
        (opt_ml / "config" / "resourceconfig.json").write_text(
            json.dumps({"current_host": host, "hosts": ["algo-1", "algo-2"]}))
        assert host_output(out, str(opt_ml)) == f"{out}/{host}"
        prepare(str(write_corpus(tmp_path / f"in-{host}", files)), host_output(out, str(opt_ml)), Settings())
    report = merge(out)
    assert report["hosts"] == ["algo-1", "algo-2"]
    cleaning = report["cleaning"]
    assert isinstance(cleaning, dict) and cleaning["documents_kept"] == 2
    tokens = read_tokens(out)
    assert tokens == [t for files in halves for doc in files.values() for t in (*clean(doc)[0].encode(), 256)]
    # One host (no resource config, or a single host) writes straight into the output.
    assert host_output(out, str(tmp_path / "nowhere")) == out


def test_hoist_data_prepare_runs_the_images_entrypoint_locally(tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "hoist.cli", "data", "prepare", "--input",
                             str(write_corpus(tmp_path / "in", CORPUS)), "--output", str(tmp_path / "out"),
                             "--workers", "2"], cwd=ROOT, env=environment, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cleaning"]["documents_kept"] == 3
    assert read_manifest(str(tmp_path / "out")).cleaning["dropped_duplicates"] == 2
