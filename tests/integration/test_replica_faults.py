"""The replica's faults over real HTTP: each kind observable, counted, deterministic, scoped."""

from __future__ import annotations

import html
import re
import time
import unicodedata
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from vksnd.fixtures.faults import FAULT_KINDS
from vksnd.fixtures.portal import ReplicaServer

MakeReplica = Callable[..., ReplicaServer]


def client(server: ReplicaServer, **options: Any) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=10, **options)


def _fault(server: ReplicaServer, kind: str, **options: Any) -> str:
    """Arm one fault on one article and return its URL."""
    url = str(server.truth()["articles"][0]["canonical_url"])
    options = {"kinds": (kind,), "rate": 1.0, "count": 1, **options}
    server.set_faults(path_regex=re.escape(url.split("/")[-1]), **options)
    return url


@pytest.mark.parametrize("kind", ["500", "503", "429"])
def test_error_statuses(replica: ReplicaServer, kind: str) -> None:
    url = _fault(replica, kind, retry_after=7)
    with client(replica) as http:
        first, second = http.get(url), http.get(url)
    assert first.status_code == int(kind)
    assert first.headers.get("retry-after") == (None if kind == "500" else "7")
    assert second.status_code == 200


def test_burst_fails_n_requests_in_a_row(replica: ReplicaServer) -> None:
    url = _fault(replica, "burst", burst=3)
    with client(replica) as http:
        statuses = [http.get(url).status_code for _ in range(5)]
    assert all(s in (500, 503) for s in statuses[:3])
    assert statuses[3:] == [200, 200]


def test_latency(replica: ReplicaServer) -> None:
    url = _fault(replica, "latency", latency_ms=300)
    with client(replica) as http:
        start = time.monotonic()
        assert http.get(url).status_code == 200
        assert time.monotonic() - start >= 0.3


def test_reset(replica: ReplicaServer) -> None:
    url = _fault(replica, "reset")
    with client(replica) as http, pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        http.get(url)
    assert replica.requests()[-1]["fault"] == "reset"


def test_stall_times_out_the_client_and_does_not_block_stop(make_replica: MakeReplica) -> None:
    server = make_replica(articles=3)
    url = _fault(server, "stall")
    with client(server) as http, pytest.raises(httpx.ReadTimeout):
        http.get(url, timeout=httpx.Timeout(5, read=0.5))
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 3


def test_truncated_body(replica: ReplicaServer) -> None:
    url = _fault(replica, "truncate")
    with client(replica) as http, pytest.raises(httpx.RemoteProtocolError):
        http.get(url)


def test_oversize_is_streamed_without_a_length(replica: ReplicaServer) -> None:
    url = _fault(replica, "oversize", oversize_mb=6)
    received = 0
    with client(replica) as http, http.stream("GET", url) as response:
        assert "content-length" not in response.headers
        for chunk in response.iter_raw():
            received += len(chunk)
    assert received >= 6 * 1024 * 1024


def test_gzip_bomb_inflates_far_beyond_its_size(replica: ReplicaServer) -> None:
    url = _fault(replica, "gzip_bomb")
    with client(replica) as http, http.stream("GET", url) as response:
        assert response.headers["content-encoding"] == "gzip"
        raw = b"".join(response.iter_raw())
    assert len(raw) < 2 * 1024 * 1024
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
    produced = len(inflate.decompress(raw, 64 * 1024 * 1024))
    assert produced == 64 * 1024 * 1024  # and it would go on, to 1 GB
    assert inflate.unconsumed_tail


def test_wrong_charset(replica: ReplicaServer) -> None:
    url = _fault(replica, "wrong_charset")
    title = replica.truth()["articles"][0]["title"]
    with client(replica) as http:
        response = http.get(url)
    assert response.charset_encoding == "iso-8859-1"
    assert title in unicodedata.normalize("NFC", html.unescape(response.content.decode()))


def test_redirect_loop(replica: ReplicaServer) -> None:
    url = _fault(replica, "redirect_loop")
    with client(replica) as http:
        hops = [url]
        for _ in range(4):
            hops.append(str(http.get(hops[-1]).headers["location"]))
        with pytest.raises(httpx.TooManyRedirects):
            http.get(hops[1], follow_redirects=True)
    assert hops[2] != hops[1]
    assert hops[3] == hops[1]
    assert hops[4] == hops[2]


def test_offsite_redirect(replica: ReplicaServer) -> None:
    url = _fault(replica, "offsite_redirect", count=2)
    with client(replica) as http:
        locations = [http.get(url).headers["location"] for _ in range(2)]
    assert locations[0].startswith("http://evil.example.invalid/")
    assert locations[1].startswith(f"http://127.0.0.2:{replica.port}/")


def test_every_fault_kind_is_tested() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    untested = [k for k in FAULT_KINDS if f'"{k}"' not in source]
    assert untested == []


def test_faults_spare_control_and_robots_and_stop_after_count(
    make_replica: MakeReplica,
) -> None:
    server = make_replica(articles=5, fail_rate=1.0, faults=["500"], fault_count=2)
    with client(server) as http:
        assert http.get("/robots.txt").status_code == 200
        assert http.get("/_replica/truth.json").status_code == 200
        statuses = [http.get("/").status_code for _ in range(4)]
    assert statuses == [500, 500, 200, 200]


def test_fault_plan_over_http(replica: ReplicaServer) -> None:
    with client(replica) as http:
        plan = {"kinds": ["503"], "rate": 1.0, "path_regex": "^/$"}
        assert http.post("/_replica/faults", json=plan).json()["plan"]["kinds"] == ["503"]
        assert http.get("/").status_code == 503
        assert http.get("/robots.txt").status_code == 200
        assert http.get("/_replica/faults").json()["hits"] == 1
        assert http.delete("/_replica/faults").json()["plan"] is None
        assert http.get("/").status_code == 200
        bad = http.post("/_replica/faults", json={"kinds": ["teapot"], "rate": 1})
        assert bad.status_code == 400
        assert "teapot" in bad.json()["error"]


def test_faults_are_deterministic_per_seed(make_replica: MakeReplica) -> None:
    def statuses(seed: int) -> list[int]:
        server = make_replica(articles=5, seed=seed, fail_rate=0.5, faults=["500", "503"])
        with client(server) as http:
            return [http.get(p).status_code for p in ["/", "/robots.txt", "/"] * 10]

    assert statuses(4) == statuses(4)
    assert statuses(4) != statuses(5)
    assert {500, 503, 200} <= set(statuses(4))
