"""train — the consumer side: SFT, DPO, GRPO, TTT and evaluation over published datasets (depends on schemas, never on synth)."""
