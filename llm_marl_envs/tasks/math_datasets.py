"""Math task sources (issue #3): being written."""
