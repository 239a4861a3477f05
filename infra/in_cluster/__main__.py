"""Pulumi entry point of the in-cluster project (``infra/in_cluster/Pulumi.yaml``)."""

from infra.in_cluster.program import main

main()
