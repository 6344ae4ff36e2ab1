"""Credit-assignment learners (C3, CCPO, MAPPO, GRPO) over one batch structure (DESIGN.md section 6)."""
