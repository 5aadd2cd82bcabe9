"""Teachers: one async protocol, several backends (openai, vllm, local)."""
