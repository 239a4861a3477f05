"""Checkpoints that survive crashes: real SIGKILLs under torchrun, resumes at another world size,
and kills in the middle of a save."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hoist.processes import process_tree
from tests.training.runner import ROOT, TINY, events, flatten, launch, load_checkpoint, result_of
from training.checkpoint import LATEST, Checkpointer, complete_checkpoints
from training.model import GPT, GPTConfig
from training.storage import LocalStore

pytestmark = pytest.mark.slow


def test_sigkilled_worker_restarts_and_ends_bit_identical(tmp_path: Path) -> None:
    common = ["--nproc", "2", "--max-restarts", "1", *TINY, "--set", "steps=40", "--set", "checkpoint_every=10",
              "--set", "log_every=1", "--set", "seed=3"]
    plain, crashed = tmp_path / "plain", tmp_path / "crashed"
    result_of(launch(*common, "--set", f"output_dir={plain}"))
    run = launch(*common, "--set", f"output_dir={crashed}", "--set", "crash_at_step=25")
    result = result_of(run)

    starts = events(crashed, "start")
    assert [s["restart"] for s in starts] == [0, 1], "the job should have been restarted once"
    assert result["start_step"] == 20  # the newest complete checkpoint before the kill at step 25

    final_plain = flatten(load_checkpoint(plain / "checkpoints" / "step-00000040", tmp_path))
    final_crashed = flatten(load_checkpoint(crashed / "checkpoints" / "step-00000040", tmp_path))
    tensors = [k for k in final_plain if k.startswith(("model.", "optim."))]
    assert len(tensors) > 10 and any(k.startswith("optim.state.") for k in tensors)
    assert set(tensors) == {k for k in final_crashed if k.startswith(("model.", "optim."))}
    for key in tensors:
        before, after = final_plain[key], final_crashed[key]
        if isinstance(before, torch.Tensor):
            assert torch.equal(before, after), key
        else:
            assert before == after, key

    def order(out: Path) -> dict[int, list[str]]:
        return {e["step"]: e["rank0_batches"] for e in events(out, "samples")}

    plain_order, crashed_order = order(plain), order(crashed)
    # After the resume the job sees exactly the batches of the uninterrupted run, step for step.
    assert all(crashed_order[step] == plain_order[step] for step in range(21, 41))


def test_two_worker_checkpoint_resumes_on_one_worker(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result_of(launch("--nproc", "2", *TINY, "--set", "steps=20", "--set", "checkpoint_every=10",
                     "--set", f"output_dir={out}"))
    result = result_of(launch("--nproc", "1", *TINY, "--set", "steps=30", "--set", "checkpoint_every=10",
                              "--set", f"output_dir={out}"))
    assert result["start_step"] == 20
    assert [e["world_size"] for e in events(out, "start")] == [2, 1]
    assert (out / "checkpoints" / LATEST).read_text().strip() == "step-00000030"


def test_broken_newest_checkpoint_is_skipped_and_cleaned(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result_of(launch("--nproc", "2", *TINY, "--set", "steps=20", "--set", "checkpoint_every=10",
                     "--set", f"output_dir={out}"))
    checkpoints = out / "checkpoints"
    # What a kill in the middle of saving step 30 leaves: data files, no .metadata — and, worst case,
    # a pointer that moved too early.
    broken = checkpoints / "step-00000030"
    broken.mkdir()
    (broken / "__0_0.distcp").write_bytes(b"partial")
    (checkpoints / LATEST).write_text("step-00000030\n")

    result = result_of(launch("--nproc", "2", *TINY, "--set", "steps=50", "--set", "checkpoint_every=10",
                              "--set", "keep_checkpoints=2", "--set", f"output_dir={out}"))
    assert result["start_step"] == 20
    assert sorted(p.name for p in checkpoints.glob("step-*")) == ["step-00000040", "step-00000050"]
    assert (checkpoints / LATEST).read_text().strip() == "step-00000050"


def test_pruning_never_deletes_the_newest_complete_checkpoint(tmp_path: Path) -> None:
    model = GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=1, n_embd=8))
    optimizer = torch.optim.AdamW(model.parameters())
    store = LocalStore(tmp_path)
    checkpointer = Checkpointer(store=store, every=1, keep=1, use_async=False, rank=0)
    for step in (1, 2, 3):
        checkpointer.maybe_save(model, optimizer, step, final=False)
    assert complete_checkpoints(store) == ["step-00000003"]
    # A newer save that is still in flight (no metadata yet) must not cost us the newest complete one.
    (tmp_path / "step-00000004").mkdir()
    checkpointer._prune("step-00000003")
    assert complete_checkpoints(store) == ["step-00000003"]
    assert (tmp_path / "step-00000004").exists()


def test_real_kills_during_frequent_saves_always_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [sys.executable, "-m", "training.launch", "--nproc", "2", "--max-restarts", "0", *TINY,
            "--set", "steps=400", "--set", "checkpoint_every=1", "--set", "keep_checkpoints=2",
            "--set", f"output_dir={out}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for kill_after in (4.0, 5.5):
        job = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (out / "checkpoints" / LATEST).exists():
            time.sleep(0.1)
        time.sleep(kill_after)
        for pid in process_tree(job.pid):  # the whole job, wherever it is — often inside a save
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        job.wait(timeout=30)
    complete = complete_checkpoints(LocalStore(out / "checkpoints"))
    assert complete, "some checkpoint must have completed before the kills"
    newest = int(complete[-1].removeprefix("step-"))
    result = result_of(launch("--nproc", "2", *TINY, "--set", f"steps={newest + 5}", "--set", "checkpoint_every=1",
                              "--set", f"output_dir={out}"))
    assert result["start_step"] == newest


def test_fsdp_with_async_checkpoints_resumes_on_one_worker(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = result_of(launch("--nproc", "2", *TINY, "--set", "parallelism=fsdp", "--set", "async_checkpoint=true",
                             "--set", "steps=20", "--set", "checkpoint_every=10", "--set", f"output_dir={out}"))
    assert first["final_loss"] < first["first_loss"]
    assert (out / "checkpoints" / LATEST).read_text().strip() == "step-00000020"
    result = result_of(launch("--nproc", "1", *TINY, "--set", "steps=25", "--set", "checkpoint_every=5",
                              "--set", f"output_dir={out}"))
    assert result["start_step"] == 20
