"""The SageMaker hosting contract, over HTTP against the real server process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
import torch

from tests.serving.server import ROOT, reference_model, serve

pytestmark = pytest.mark.slow
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reference_model(tmp_path_factory.mktemp("reference"))


def test_serve_argument_is_required() -> None:
    run = subprocess.run([sys.executable, "-m", "serving"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "usage: python -m serving serve" in run.stderr


def test_reference_model_answers_and_ignores_sagemaker_headers(reference: Path) -> None:
    with serve(reference) as (url, _):
        headers = {**JSON, "X-Amzn-SageMaker-Custom-Attributes": "trace=1", "X-Amzn-SageMaker-Target-Model": "m",
                   "X-Amzn-SageMaker-Inference-Id": "abc"}
        answer = httpx.post(f"{url}/invocations", content=b'{"inputs": ["12+30", "999+1"]}', headers=headers)
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        outputs = answer.json()["outputs"]
        assert len(outputs) == 2 and all(o == "" or o.isdigit() for o in outputs)
        # Content negotiation.
        assert httpx.post(f"{url}/invocations", content=b"1,2", headers={"content-type": "text/csv"}).status_code == 415
        wrong_accept = httpx.post(f"{url}/invocations", content=b'{"inputs": "1+2"}',
                                  headers={**JSON, "accept": "text/csv"})
        assert wrong_accept.status_code == 406 and "accept application/json" in wrong_accept.json()["message"]
        assert httpx.post(f"{url}/invocations", content=b'{"inputs": "1+2"}',
                          headers={**JSON, "accept": "*/*"}).status_code == 200


def test_ping_is_503_until_loaded_and_warmed(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "inference.py").write_text(textwrap.dedent('''
        import time
        def model_fn(model_dir):
            time.sleep(2.0)
            return "slow model"
        def predict_fn(data, model):
            return {"model": model, "echo": data}
    '''))
    with serve(tmp_path, wait_ready=False) as (url, _):
        first = httpx.get(f"{url}/ping")
        assert first.status_code == 503 and first.json() == {"status": 503, "message": "model is loading"}
        early = httpx.post(f"{url}/invocations", content=b"[1]", headers=JSON)
        assert early.status_code == 503
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/ping").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        answer = httpx.post(f"{url}/invocations", content=b"[1, 2]", headers=JSON)
        assert answer.json() == {"model": "slow model", "echo": [1, 2]}


def test_existing_toolkit_script_for_another_model_runs_unchanged(tmp_path: Path) -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 2)
    torch.save(linear.state_dict(), tmp_path / "weights.pt")
    calls = tmp_path / "calls.log"
    code = tmp_path / "code"
    code.mkdir()
    (code / "inference.py").write_text(textwrap.dedent(f'''
        import json, os, torch
        LOG = {str(calls)!r}
        def _log(name):
            with open(LOG, "a") as f:
                f.write(name + "\\n")
        def model_fn(model_dir):
            _log("model_fn")
            model = torch.nn.Linear(3, 2)
            model.load_state_dict(torch.load(os.path.join(model_dir, "weights.pt")))
            return model.eval()
        def input_fn(request_body, request_content_type):
            _log("input_fn")
            assert request_content_type == "application/json"
            return torch.tensor(json.loads(request_body)["instances"], dtype=torch.float32)
        def predict_fn(input_data, model):
            _log("predict_fn")
            with torch.no_grad():
                return model(input_data)
        def output_fn(prediction, content_type):
            _log("output_fn")
            return json.dumps({{"predictions": prediction.tolist()}})
    '''))
    rows = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]
    with serve(tmp_path) as (url, _):
        answer = httpx.post(f"{url}/invocations", json={"instances": rows})
    assert answer.status_code == 200
    expected = linear(torch.tensor(rows)).tolist()
    assert torch.allclose(torch.tensor(answer.json()["predictions"]), torch.tensor(expected))
    assert calls.read_text().split() == ["model_fn", "input_fn", "predict_fn", "output_fn"]


def test_default_functions_serve_a_torchscript_model(tmp_path: Path) -> None:
    scripted = torch.jit.script(torch.nn.Linear(2, 1))
    scripted.save(str(tmp_path / "model.pt"))  # type: ignore[no-untyped-call]
    with serve(tmp_path) as (url, _):
        answer = httpx.post(f"{url}/invocations", json=[[1.0, 2.0]])
        assert answer.status_code == 200
        assert torch.allclose(torch.tensor(answer.json()), scripted(torch.tensor([[1.0, 2.0]])))
        bad = httpx.post(f"{url}/invocations", content=b"{not json", headers=JSON)
        assert bad.status_code == 400 and set(bad.json()) == {"status", "message"}


def test_streamed_answer_equals_unstreamed(reference: Path) -> None:
    body = json.dumps({"inputs": ["12+30", "999+1", "0+0", "450+450"]}).encode()
    with serve(reference) as (url, _):
        whole = httpx.post(f"{url}/invocations", content=body, headers=JSON).json()["outputs"]
        with httpx.stream("POST", f"{url}/invocations", content=body,
                          headers={**JSON, "accept": "application/jsonlines"}) as response:
            assert response.status_code == 200
            assert response.headers.get("transfer-encoding") == "chunked"
            lines = [json.loads(line) for line in response.iter_lines() if line]
    assert [line["index"] for line in lines] == [0, 1, 2, 3]
    assert [line["output"] for line in lines] == whole
