"""Pure, synchronous extraction: page bytes + URL -> typed records. No I/O, nothing of ours imported."""
