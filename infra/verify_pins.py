"""`make verify-pins`: check the catalog's dated facts against AWS where a network and credentials exist.

It compares the catalog's EC2 on-demand prices with the AWS Price List API and its EKS versions with
DescribeClusterVersions, and prints every difference. It is not part of `make test`: the test
machines have no network, and prices move on AWS's schedule, not ours.
"""

from __future__ import annotations

import json
import sys

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
    for line in differences:
        print(line)
    print(f"verify-pins: {len(differences)} difference(s) against AWS")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
