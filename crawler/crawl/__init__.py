"""crawl: what to fetch and where it goes (discovery, pipeline steps, parse pool, passes, backfill,
and the Protocols storage satisfies).
"""
