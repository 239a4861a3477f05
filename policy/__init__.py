"""hoist's policy pack: guardrails that every stack must pass, with their public control IDs."""
