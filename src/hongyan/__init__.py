"""Hongyan (鸿雁): a self-hostable SMS platform, drop-in compatible with the ihuyi HTTP API."""

__version__ = "0.1.0"
