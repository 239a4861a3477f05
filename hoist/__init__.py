"""The `hoist` command: operates the stacks (plan, build, deploy, jobs) and runs the lifecycle locally."""
