"""`make verify-pins`: check the catalog's dated facts against AWS where a network and credentials exist.

It compares the catalog's EC2 on-demand prices with the AWS Price List API, its EKS versions with
DescribeClusterVersions, and its pinned image digests with their registries (does the digest still
exist; has the tag moved on), and prints every difference. It is not part of `make test`: the test
machines have no network, and prices move on AWS's schedule, not ours.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass

from infra import catalog


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
    except (BotoCoreError, ClientError) as exc:
        print(f"verify-pins: cannot reach AWS ({exc}); run it where a network and credentials exist")
        return 2
    try:
        differences += image_differences()
    except (OSError, ValueError) as exc:
        print(f"verify-pins: cannot reach the image registries ({exc})")
        return 2
    for line in differences:
        print(line)
    print(f"verify-pins: {len(differences)} difference(s) against AWS and the image registries")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
