"""Shared fixtures: the portal replica served over real HTTP on a free loopback port.

``make_replica(**options)`` takes the CLI's options (``vksnd.fixtures.portal.replica_config``:
articles, seed, latency_ms, fail_rate, faults, page_size, encodings, layouts, crawl_delay,
listing_scheme, broken, redirects, site, variant, knobs, sitemap, feeds, ...) and returns a
started ``ReplicaServer`` with ``.base_url``, ``.site``, ``.truth()``, ``.site_info()``,
``.publish(n)``, ``.edit(id)``, ``.set_faults(...)``, ``.clear_faults()``, ``.requests()``,
``.clear_requests()``. Servers stop at teardown, and a test fails if a server thread raised
something unexpected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vksnd.fixtures.portal import ReplicaServer, replica_config

MakeReplica = Callable[..., ReplicaServer]


@pytest.fixture
def make_replica() -> Iterator[MakeReplica]:
    started: list[ReplicaServer] = []

    def make(**options: Any) -> ReplicaServer:
        server = ReplicaServer(replica_config(**options)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
    errors = [e for server in started for e in server.errors]
    assert errors == [], "replica handler errors:\n" + "\n".join(errors)


@pytest.fixture
def replica(make_replica: MakeReplica) -> ReplicaServer:
    return make_replica(articles=40, seed=1)
