"""The audit engine: rules (one set-based query each), parameters, runs and findings."""
