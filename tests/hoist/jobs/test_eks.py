"""`hoist train eks`: the TrainJob it builds, the errors it gives, and the kubernetes client
calls it makes (against a local stand-in for the API server's endpoints)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import yaml

from hoist import outputs
from hoist.cli import main
from hoist.jobs import api_checks, eks
from hoist.jobs.eks import TrainJobRequest
from infra.kube.training_runtime import training_runtime
from infra.stack_files import load_stack
from tests.conftest import planned
from tests.hoist.jobs import kube_stand_in
from tests.hoist.jobs.kube_stand_in import KubeApi


def dry_run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["train", "eks", "--dry-run", *argv]) == 0
    job: dict[str, Any] = yaml.safe_load(capsys.readouterr().out)
    return job


def test_prod_job_runs_the_training_image_on_two_nodes_with_all_gpus_and_efa(
        capsys: pytest.CaptureFixture[str]) -> None:
    job = dry_run(capsys, "--stack", "prod", "--pool", "h100-efa", "--nodes", "2", "--name", "llm-1",
                  "--data", "prepared/web/")
    plan = planned("prod")
    buckets = {role: b["name"] for role, b in plan.outputs["buckets"].items()}
    assert job["kind"] == "TrainJob" and job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "h100-efa"
    trainer = job["spec"]["trainer"]
    assert trainer["image"] == plan.outputs["images"]["training"]
    assert trainer["image"].endswith(load_stack("prod").images.training or "missing")
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 8)
    assert trainer["resourcesPerNode"]["limits"] == {"memory": "1638Gi", "nvidia.com/gpu": "8",
                                                     "vpc.amazonaws.com/efa": "32"}
    assert trainer["command"] == ["python", "-m", "training.launch"]
    # NCCL must take the OFI plugin's network (or fail), and libfabric runs without huge pages, which a pod
    # cannot request on a Karpenter pool.
    assert trainer["env"] == [{"name": "FI_EFA_USE_HUGE_PAGE", "value": "0"},
                              {"name": "NCCL_NET", "value": "AWS Libfabric"}]
    assert not any(key.startswith("hugepages") for key in trainer["resourcesPerNode"]["requests"])
    args = trainer["args"]
    assert args[:2] == ["--recipe", "gpu_multi_node"]
    assert f"checkpoint_uri=s3://{buckets['checkpoints']}/eks/llm-1/" in args
    assert f"export_uri=s3://{buckets['models']}/eks/llm-1/" in args
    assert "data=/fsx/datasets/prepared/web/" in args  # prod reads datasets through Lustre
    assert job["spec"]["activeDeadlineSeconds"] == 72 * 3600
    pod = job["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0][
        "template"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"hoist.dev/pool": "h100-efa"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "fsx", "mountPath": "/fsx", "readOnly": True}]


def test_dev_job_reads_s3_and_leaves_efa_out(capsys: pytest.CaptureFixture[str]) -> None:
    job = dry_run(capsys, "--stack", "dev", "--pool", "a10g-spot", "--nodes", "4", "--data", "prepared/c/")
    resources = job["spec"]["trainer"]["resourcesPerNode"]
    assert resources["requests"] == {"cpu": "3", "memory": "12Gi", "nvidia.com/gpu": "1"}
    assert "env" not in job["spec"]["trainer"]  # no fabric, no fabric settings
    assert f"data=s3://{planned('dev').outputs['buckets']['datasets']['name']}/prepared/c/" in job["spec"]["trainer"][
        "args"]
    assert "volumes" not in job["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
        "replicatedJobs"][0]["template"]["spec"]["template"]["spec"]


def test_no_efa_on_an_efa_pool_requests_none(capsys: pytest.CaptureFixture[str]) -> None:
    job = dry_run(capsys, "--stack", "prod", "--pool", "h100-efa", "--no-efa")
    assert "vpc.amazonaws.com/efa" not in job["spec"]["trainer"]["resourcesPerNode"]["requests"]
    assert "env" not in job["spec"]["trainer"]  # NCCL_NET would fail a job without the EFA devices


@pytest.mark.parametrize(("argv", "message"), [
    (["--pool", "h200"], "--pool 'h200': no such GPU pool; allowed: a10g-spot, h100-efa"),
    (["--pool", "h100-efa", "--nodes", "3"], "--nodes 3: pool 'h100-efa' holds at most 16 GPUs, 8 per node, "
                                            "so 1 to 2 nodes"),
    (["--pool", "a10g-spot", "--efa"], "--efa: pool 'a10g-spot' has no EFA; pools with EFA: h100-efa"),
    (["--pool", "a10g-spot", "--data", "../secrets/"], "--data '../secrets/': a prefix of the datasets bucket"),
    (["--pool", "a10g-spot", "--set", "stepz=5"], "--set stepz: unknown key; allowed: "),
    (["--pool", "a10g-spot", "--set", "steps=many"], "steps='many': expected an integer"),
    (["--pool", "a10g-spot", "--recipe", "huge"], "unknown recipe 'huge'"),
    (["--pool", "a10g-spot", "--name", "Bad_Name"], "--name 'Bad_Name': 1-63 lower-case letters"),
])
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["train", "eks", "--stack", "prod", "--dry-run", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_every_pools_node_pod_matches_the_kubernetes_schema(stack: str) -> None:
    cfg = load_stack(stack)
    stack_outputs = outputs.from_mapping(planned(stack).outputs, "plan")
    for pool_name, pool in cfg.gpu_pools.items():
        for nodes in (1, pool.max_gpus // pool.gpus_per_node):
            job = eks.train_job(cfg, stack_outputs, TrainJobRequest(
                name="j", pool=pool_name, nodes=nodes, efa=None, recipe="gpu_single_node"))
            runtime = training_runtime("training", cfg.cluster, stack_outputs.images["training"])
            pod = api_checks.node_pod(runtime, job)
            assert api_checks.kubernetes_errors(pod, cfg.cluster.kubernetes_version) == []
            container = pod["spec"]["containers"][0]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert pod["spec"]["securityContext"]["runAsUser"] == 10001


def test_pools_come_from_the_deployed_outputs_not_the_stack_file(tmp_path: Any,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    deployed = planned("prod").outputs
    pools = deployed["cluster"]["pools"]
    # The deployed a10g pool is smaller than the file says: the job is shaped by what is deployed.
    smaller = {**deployed, "cluster": {**deployed["cluster"], "pools": {
        "a10g-spot": {**pools["a10g-spot"], "max_gpus": 8}}}}
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(smaller))
    argv = ["train", "eks", "--stack", "prod", "--outputs", str(outputs_file), "--dry-run"]
    assert main([*argv, "--pool", "a10g-spot", "--nodes", "2"]) == 0
    capsys.readouterr()
    assert main([*argv, "--pool", "a10g-spot", "--nodes", "3"]) == 2
    assert "pool 'a10g-spot' holds at most 8 GPUs" in capsys.readouterr().err
    assert main([*argv, "--pool", "h100-efa"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--pool 'h100-efa': in stacks/Pulumi.prod.yaml but not in the deployed stack's outputs" in err


def test_a_fine_tuning_job_reads_its_base_model_from_s3(capsys: pytest.CaptureFixture[str]) -> None:
    job = dry_run(capsys, "--stack", "prod", "--pool", "h100-efa", "--recipe", "gpu_llm_full",
                  "--base-model", "base/qwen3-8b/", "--data", "prepared/chat/")
    args = job["spec"]["trainer"]["args"]
    models = planned("prod").outputs["buckets"]["models"]["name"]
    assert args[:2] == ["--recipe", "gpu_llm_full"]
    assert f"base_model=s3://{models}/base/qwen3-8b/" in args and "data=/fsx/datasets/prepared/chat/" in args


class TrainingApi(KubeApi):
    """A created job with one running pod that has logged a step."""

    pod = "llm-1-node-0-0"
    conditions: ClassVar[list[dict[str, str]]] = [{"type": "Created", "status": "True", "reason": "JobSetCreated",
                                                   "message": "ok"}]
    log = "step 10 loss 1.23\n"


@pytest.fixture
def api_server() -> Iterator[str]:
    with kube_stand_in.serving(TrainingApi) as url:
        yield url


def test_submit_status_and_logs_go_through_the_kubernetes_client(api_server: str) -> None:
    cfg = load_stack("prod")
    stack_outputs = outputs.from_mapping(planned("prod").outputs, "plan").model_copy(
        update={"kubeconfig": kube_stand_in.kubeconfig(api_server)})
    job = eks.train_job(cfg, stack_outputs, TrainJobRequest(name="llm-1", pool="h100-efa", nodes=2, efa=None,
                                                            recipe="gpu_multi_node"))
    eks.submit(job, stack_outputs)
    method, path, body = TrainingApi.requests[0]
    assert (method, path) == ("POST", kube_stand_in.TRAINJOBS)
    assert body == job
    state = eks.status("llm-1", stack_outputs)
    assert state["conditions"][0]["reason"] == "JobSetCreated"
    assert state["pods"] == {"llm-1-node-0-0": {"phase": "Running", "node": "ip-10-30-0-9"}}
    assert "".join(eks.logs("llm-1", stack_outputs, follow=False)) == "step 10 loss 1.23\n"
    pod_query = next(p for m, p, _ in TrainingApi.requests if m == "GET" and "/pods?" in p and "index" in p)
    assert "jobset.sigs.k8s.io%2Fjobset-name%3Dllm-1" in pod_query
    assert all(auth == "Bearer t0ken" for m, _, auth in TrainingApi.requests if m == "GET")
