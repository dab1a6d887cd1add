"""Channels: how messages leave the platform. One small protocol, several implementations (SMPP, …)."""
