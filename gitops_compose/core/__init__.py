"""Pure decisions: stacks, fingerprints, plans, statuses. No I/O, no clock."""
