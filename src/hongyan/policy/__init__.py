"""Message policy state that is read on every Submit: frequency counters, blacklists, sensitive words."""
