"""The CrossGuard entry point: `pulumi preview --policy-pack policy`.

Building the PolicyPack starts its gRPC server and blocks, so the policies live in importable
modules and only this file builds the pack.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.pack import POLICIES

PolicyPack(name="hoist", enforcement_level=EnforcementLevel.MANDATORY, policies=list(POLICIES))
