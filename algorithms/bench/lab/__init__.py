"""The exact credit lab (``../shared/reference/credit-lab.md``): HintDyad with exact ground truth."""
