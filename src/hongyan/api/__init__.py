"""HTTP: the ihuyi-compatible endpoints (byte-exact), the REST v2 API, health."""
