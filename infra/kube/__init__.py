"""The Kubernetes objects the in-cluster side installs: Karpenter's GPU pools, the training runtime, Kueue."""
