"""What every stage shares: domain errors, settings, secrets and the clock."""
