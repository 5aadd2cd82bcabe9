"""Verifiable problems (after HuatuoGPT-o1): MCQ sources, screens, reasoning search, training views."""
