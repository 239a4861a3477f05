"""What each `hoist` command does with its parsed arguments; `hoist.cli` imports a module only when its
command runs, so `hoist --help` stays instant."""
