"""Case sources: where hidden CaseCards come from (LLM synthesis from a sampler; later seeds and importers)."""
