"""EFA facts: the NCCL settings per family and plugin version, the node user data, the bus-bandwidth
floors and their sources, the fabric pins, and the device-plugin pin that must not take EFA's devices."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra import catalog, efa
from infra.config import GpuPoolConfig
from infra.kube.karpenter import node_class
from infra.stack_files import PROJECT_ROOT, load_stack


def test_the_pinned_plugin_needs_only_hoists_own_settings() -> None:
    assert efa.OFI_NCCL_PLUGIN.value == "1.14.2"
    for instance_type in ("p5.48xlarge", "p4d.24xlarge", "g5.48xlarge"):
        assert efa.nccl_environment(instance_type) == {"NCCL_NET": "AWS Libfabric", "FI_EFA_USE_HUGE_PAGE": "0"}


def test_older_plugins_need_the_cheatsheets_settings_per_family() -> None:
    assert efa.nccl_environment("p4d.24xlarge", "1.6.0")["FI_EFA_USE_DEVICE_RDMA"] == "1"
    assert "FI_EFA_USE_DEVICE_RDMA" not in efa.nccl_environment("g5.48xlarge", "1.6.0")  # no GPUDirect RDMA
    assert "FI_EFA_USE_DEVICE_RDMA" not in efa.nccl_environment("p5.48xlarge", "1.7.0-aws")
    old = efa.nccl_environment("p5.48xlarge", "1.5.0")
    assert (old["FI_PROVIDER"], old["NCCL_PROTO"], old["FI_EFA_USE_DEVICE_RDMA"]) == ("efa", "simple", "1")
    assert "NCCL_PROTO" not in efa.nccl_environment("p5.48xlarge", "1.5.1")


def test_no_huge_pages_are_requested_because_karpenter_cannot_size_them() -> None:
    assert efa.HUGEPAGES_REQUEST is None
    assert efa.nccl_environment("p5.48xlarge")["FI_EFA_USE_HUGE_PAGE"] == "0"


def _pool(*, on: bool) -> GpuPoolConfig:
    return GpuPoolConfig(instance_types=("p5.48xlarge",), capacity_type="on-demand", max_gpus=16, efa=on)


def _node_spec(pool: GpuPoolConfig) -> dict[str, Any]:
    spec: dict[str, Any] = node_class("p", pool, node_role="r", subnet_ids=["subnet-0a"], security_group_id="sg-0b",
                                      kms_key_arn="k", tags={})["spec"]
    return spec


def test_efa_nodes_run_containerd_with_unlimited_locked_memory() -> None:
    user_data = _node_spec(_pool(on=True))["userData"]
    assert user_data.startswith("MIME-Version: 1.0\nContent-Type: multipart/mixed;")
    assert "Content-Type: text/x-shellscript" in user_data
    assert f"printf '[Service]\\nLimitMEMLOCK=infinity\\n' > {efa.NODE_MEMLOCK_DROP_IN}" in user_data
    assert "systemctl restart containerd" in user_data and user_data.rstrip().endswith("--HOIST-EFA--")
    assert "userData" not in _node_spec(_pool(on=False))


def test_every_floor_names_its_source_and_is_half_the_measurement() -> None:
    for instance_type, floor in efa.BUSBW_FLOORS.items():
        assert instance_type in catalog.EC2_INSTANCES and catalog.EC2_INSTANCES[instance_type].efa_interfaces
        assert floor.source and re.search(r"\d", floor.source)
        assert floor.margin == pytest.approx(efa.FLOOR_SHARE, abs=1e-3)
    assert efa.BUSBW_FLOORS["p5.48xlarge"].gbps == 240.0
    assert efa.BUSBW_FLOORS["p4d.24xlarge"].gbps == 38.6


def test_every_efa_pool_in_the_stacks_has_a_floor_or_is_transport_only(stack: str) -> None:
    transport_only = {"g5.48xlarge", "g6e.12xlarge"}
    for pool in load_stack(stack).gpu_pools.values():
        if pool.efa:
            assert set(pool.instance_types) <= set(efa.BUSBW_FLOORS) | transport_only


def test_the_installer_pin_has_a_checksum_and_a_url() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", efa.EFA_INSTALLER_SHA256)
    assert efa.EFA_INSTALLER_URL == "https://efa-installer.amazonaws.com/aws-efa-installer-1.41.0.tar.gz"
    assert "efa-verify" in efa.EFA_INSTALLER.source


@pytest.mark.parametrize(("version", "conflicts"), [
    ("0.18.2", False), ("v0.18.2", False), ("0.19.0", True), ("0.19.2", True), ("0.19.3", False), ("0.20.0", False),
])
def test_the_device_plugin_versions_that_take_efas_devices(version: str, conflicts: bool) -> None:
    assert efa.device_plugin_conflicts_with_efa(version) is conflicts


def test_the_pinned_nvidia_device_plugin_leaves_efa_alone() -> None:
    pin = catalog.HELM_CHARTS["nvidia-device-plugin"].version
    assert not efa.device_plugin_conflicts_with_efa(pin), (
        f"nvidia-device-plugin {pin} mounts EFA's uverbs devices into GPU pods (NVIDIA/k8s-device-plugin#1692); "
        f"pin below 0.19.0 or at 0.19.3 and later")


def test_the_training_image_installs_the_pinned_fabric_checked_by_its_checksum() -> None:
    text = (PROJECT_ROOT / "training" / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.MULTILINE))
    assert (args["EFA_INSTALLER_VERSION"], args["EFA_INSTALLER_SHA256"]) == (efa.EFA_INSTALLER.value,
                                                                             efa.EFA_INSTALLER_SHA256)
    add = re.findall(r"^ADD (.+)$", text, flags=re.MULTILINE)
    assert add == ["--checksum=sha256:${EFA_INSTALLER_SHA256} https://efa-installer.amazonaws.com/"
                   "aws-efa-installer-${EFA_INSTALLER_VERSION}.tar.gz /tmp/aws-efa-installer.tar.gz"]
    assert "./efa_installer.sh -y --skip-kmod --skip-limit-conf --no-verify" in text
    library_path = re.search(r"LD_LIBRARY_PATH=(\S+)", text)
    assert library_path is not None
    assert library_path.group(1).split(":")[:2] == [efa.OFI_NCCL_LIBRARY_DIR, efa.LIBFABRIC_LIBRARY_DIR]


def test_the_pinned_karpenter_offers_no_placement_group_so_efa_pools_stay_in_one_subnet() -> None:
    """The placement decision (infra/efa.py): on the 1.9 LTS line the EC2NodeClass has no placement-group
    selector, so the tightest placement is one AZ, one subnet and reserved capacity. A schema upgrade that
    brings one makes this fail: revisit the decision then."""
    from tests.infra.crd_schemas import EC2_NODE_CLASS

    assert catalog.HELM_CHARTS["karpenter"].version == "1.9.0"
    fields = EC2_NODE_CLASS["properties"]["spec"]["properties"]
    assert not [name for name in fields if "placement" in name.lower()]
    assert "capacityReservationSelectorTerms" in fields
