"""Background workers: the dispatcher (store → channels) and the receipt intake (channels → store)."""
