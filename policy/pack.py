"""Every hoist policy, in one list. `policy/__main__.py` builds the CrossGuard pack from it."""

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from policy import eks, governance, iam, ml, network, reachability, registry, runner, sagemaker, storage

POLICIES: tuple[ResourceValidationPolicy | StackValidationPolicy, ...] = (
    *storage.POLICIES,
    *iam.POLICIES,
    *registry.POLICIES,
    *network.POLICIES,
    *reachability.POLICIES,
    *sagemaker.POLICIES,
    *eks.POLICIES,
    *runner.POLICIES,
    *ml.POLICIES,
    *governance.POLICIES,
)
