"""The Pulumi program: what `pulumi up` runs for one stack, and nothing else."""
