"""Every hoist policy, in one list. `policy/__main__.py` builds the CrossGuard pack from it."""

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from policy import governance, iam, network, registry, sagemaker, storage

POLICIES: tuple[ResourceValidationPolicy | StackValidationPolicy, ...] = (
    *storage.POLICIES,
    *iam.POLICIES,
    *registry.POLICIES,
    *network.POLICIES,
    *sagemaker.POLICIES,
    *governance.POLICIES,
)
