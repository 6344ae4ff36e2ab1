"""Benchmarks driven by ``llm-marl bench`` (``credit``: the matched-budget credit-assignment benchmark)."""
