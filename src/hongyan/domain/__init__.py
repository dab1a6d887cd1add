"""Pure domain logic: codes, counting, numbers, signatures, templates. No web, no SQL."""
