"""The in-cluster Pulumi project (``Pulumi.yaml`` here): its program reads the AWS side's output."""
