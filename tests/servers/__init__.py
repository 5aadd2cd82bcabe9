"""Real HTTP servers used by tests and benchmarks (bound to 127.0.0.1, OS-assigned ports)."""
