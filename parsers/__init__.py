"""Pure, synchronous extraction: page bytes + URL -> typed records; no I/O, none of our imports."""
