"""synth — the generator: teachers, case sources, simulators, quality, store, publish, CLI."""

__version__ = "0.1.0"
