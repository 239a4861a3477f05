"""One ComponentResource per AWS concern. Components take typed args and never read Pulumi config."""
