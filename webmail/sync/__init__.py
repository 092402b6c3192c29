"""The sync engine: compares upstream state with the cache and applies the difference."""
