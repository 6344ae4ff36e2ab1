"""Math verifier (issue #3): being written."""


def verify_math(response, gold, *, timeout_s=5.0):
    raise NotImplementedError("verify_math is being written (issue #3)")
