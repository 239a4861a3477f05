"""The offline plan: the real Pulumi program under Pulumi's mock runtime, its policy report, cost and diff."""
