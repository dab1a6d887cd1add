"""Prometheus metrics (served at /metrics). Names are prefixed ``hongyan_``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry()

SUBMITS = Counter("hongyan_submits_total", "Submit answers by code", ["code"], registry=REGISTRY)
COMMIT_BATCH = Histogram(
    "hongyan_commit_batch_size",
    "Messages per group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)
CHANNEL_SUBMITS = Counter(
    "hongyan_channel_submits_total", "Submits by channel and outcome", ["channel", "outcome"], registry=REGISTRY
)
PUSHES = Counter("hongyan_pushes_total", "Push attempts by kind and outcome", ["kind", "outcome"], registry=REGISTRY)
CHANNELS_UP = Gauge("hongyan_channels_available", "Channels bound and not throttled", registry=REGISTRY)


def render() -> bytes:
    return generate_latest(REGISTRY)
