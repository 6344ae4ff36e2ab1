"""Code task sources (issue #4): being written."""
