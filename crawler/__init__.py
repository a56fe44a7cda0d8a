"""Composition root: fetching, politeness, discovery, pipeline, scheduler, backfill and the CLI."""
