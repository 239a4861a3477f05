"""Pulumi entry point (Pulumi.yaml `main: infra/`): load the stack config, build the stack."""

from infra.program import main

main()
