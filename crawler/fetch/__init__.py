"""fetch: one URL, politely (fetcher, capped body reading, robots.txt, politeness, retry, errors).

Imports nothing of the other rooms of ``vksnd.crawler``.
"""
