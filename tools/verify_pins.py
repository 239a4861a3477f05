"""`make verify-pins`: check the catalog's dated facts against AWS where a network and credentials exist.

It compares the catalog's EC2 on-demand prices with the AWS Price List API, its EKS versions with
DescribeClusterVersions, the GPU nodes' AMI release with EKS's public SSM parameters, its pinned image
digests with their registries (does the digest still exist; has the tag moved on), its Helm chart
versions with their repositories and the EFA installer's checksum with its download, and prints every
difference. It is not part of `make test`: the test machines have no network, and prices move on
AWS's schedule, not ours.
"""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass

from infra import catalog, efa


def _ec2_price(pricing: object, instance_type: str) -> float | None:
    response = pricing.get_products(  # type: ignore[attr-defined]
        ServiceCode="AmazonEC2",
        Filters=[{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in (
            ("instanceType", instance_type), ("location", "US East (N. Virginia)"), ("operatingSystem", "Linux"),
            ("tenancy", "Shared"), ("preInstalledSw", "NA"), ("capacitystatus", "Used"))],
    )
    for item in response["PriceList"]:
        product = json.loads(item)
        for term in product["terms"].get("OnDemand", {}).values():
            for dimension in term["priceDimensions"].values():
                return float(dimension["pricePerUnit"]["USD"])
    return None


MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"))


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str
    digest: str

    @property
    def token_url(self) -> str:
        if self.registry == "registry-1.docker.io":
            return f"https://auth.docker.io/token?service=registry.docker.io&scope=repository:{self.repository}:pull"
        return f"https://{self.registry}/token?scope=repository:{self.repository}:pull"


def parse_image(reference: str) -> ImageRef:
    """``[registry/]repository:tag@sha256:...`` with Docker Hub's defaults filled in."""
    name, _, digest = reference.partition("@")
    name, _, tag = name.rpartition(":")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first):
        registry, repository = first, rest
    else:
        registry, repository = "registry-1.docker.io", name if "/" in name else f"library/{name}"
    return ImageRef(registry, repository, tag, digest)


def _manifest_digest(image: ImageRef, reference: str) -> str | None:
    with urllib.request.urlopen(image.token_url, timeout=30) as response:  # noqa: S310 (fixed https URLs)
        token = json.load(response)["token"]
    request = urllib.request.Request(
        f"https://{image.registry}/v2/{image.repository}/manifests/{reference}", method="HEAD",
        headers={"Authorization": f"Bearer {token}", "Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return str(response.headers.get("Docker-Content-Digest"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def image_differences() -> list[str]:
    differences = []
    for name, pin in catalog.PINS.items():
        if "@sha256:" not in pin.value:
            continue
        image = parse_image(pin.value)
        if _manifest_digest(image, image.digest) is None:
            differences.append(f"{name}: {image.digest} no longer exists in {image.registry}/{image.repository}")
        current = _manifest_digest(image, image.tag)
        if current != image.digest:
            differences.append(f"{name}: tag {image.tag} now points to {current} (pinned {image.digest})")
    return differences


def chart_differences() -> list[str]:
    """Every pinned chart version must still be published (a Helm index entry, or an OCI tag)."""
    import yaml

    differences = []
    for name, chart in catalog.HELM_CHARTS.items():
        if chart.repository is None:
            registry, _, repository = chart.chart.removeprefix("oci://").partition("/")
            found = _manifest_digest(ImageRef(registry, repository, chart.version, ""), chart.version) is not None
        else:
            with urllib.request.urlopen(f"{chart.repository}/index.yaml", timeout=30) as response:  # noqa: S310
                index = yaml.safe_load(response)
            found = any(entry.get("version") == chart.version for entry in index["entries"].get(chart.chart, []))
        if not found:
            where = chart.repository or chart.chart
            differences.append(f"chart {name}: version {chart.version} is not published at {where}")
    return differences


def installer_differences(url: str = efa.EFA_INSTALLER_URL, sha256: str = efa.EFA_INSTALLER_SHA256) -> list[str]:
    """The pinned EFA installer must still download with the SHA-256 the catalog (and the image build) expect."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=300) as response:  # noqa: S310 - a pinned https URL
        for chunk in iter(lambda: response.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        return [f"EFA installer {url}: SHA-256 {digest.hexdigest()}, pinned {sha256}"]
    return []


def ami_differences(ssm: object) -> list[str]:
    """The pinned AL2023 release must exist for every Kubernetes version the catalog supports."""
    release = catalog.GPU_NODE_AMI.value.partition("@")[2]
    differences = []
    for version in catalog.eks_versions_in_standard_support():
        parameter = (f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/nvidia/"
                     f"amazon-eks-node-al2023-x86_64-nvidia-{version}-{release}/image_id")
        try:
            ssm.get_parameter(Name=parameter)  # type: ignore[attr-defined]
        except ssm.exceptions.ParameterNotFound:  # type: ignore[attr-defined]
            differences.append(f"GPU node AMI {release}: no AL2023 NVIDIA image for Kubernetes {version}")
    return differences


def main() -> int:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        print("verify-pins: boto3 is not installed; run `make test` once to create the environment")
        return 2
    differences = []
    try:
        pricing = boto3.client("pricing", region_name="us-east-1")
        for instance_type, facts in catalog.EC2_INSTANCES.items():
            live = _ec2_price(pricing, instance_type)
            if live is not None and abs(live - facts.on_demand_usd_per_hour) > 0.001:
                differences.append(f"{instance_type}: catalog ${facts.on_demand_usd_per_hour}/h, AWS ${live}/h")
        eks = boto3.client("eks", region_name="us-east-1")
        live_versions = {v["clusterVersion"]: v for v in eks.describe_cluster_versions()["clusterVersions"]}
        for version in catalog.EKS_VERSIONS:
            if version not in live_versions:
                differences.append(f"EKS {version}: in the catalog, not offered by AWS")
        differences += ami_differences(boto3.client("ssm", region_name="us-east-1"))
    except (BotoCoreError, ClientError) as exc:
        print(f"verify-pins: cannot reach AWS ({exc}); run it where a network and credentials exist")
        return 2
    try:
        differences += image_differences()
        differences += chart_differences()
        differences += installer_differences()
    except (OSError, ValueError) as exc:
        print(f"verify-pins: cannot reach the image registries or chart repositories ({exc})")
        return 2
    for line in differences:
        print(line)
    print(f"verify-pins: {len(differences)} difference(s) against AWS, the image registries and chart repositories")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
