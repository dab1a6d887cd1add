"""The Submit validation pipeline: small checks, each returning None or a Rejected(code); order in run.py."""
