"""Long fuzzing runs for nightly use (``python fuzz/run.py --seconds 600``)."""
