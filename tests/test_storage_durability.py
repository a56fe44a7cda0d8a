"""A writer process killed with SIGKILL mid-transaction leaves a sound database that holds
every article it reported committed."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from storage.sqlite import SqliteStore
from tests.storage_support import ROOT, check_invariants, make_article, make_raw

# Stores batches of articles with ~30 KB pages forever and prints "seq hash" for each article of
# a batch only after its COMMIT returned. The next batch is built before the previous one is
# reported and bodies are archived uncompressed, so right after a report the writer is inside
# its next transaction: that is where the kill lands. Some items are edits and duplicates, so
# kills also hit supersession updates.
WRITER = textwrap.dedent(
    """
    import asyncio, random, sys
    from storage.records import StoreRequest
    from storage.sqlite import SqliteStore, StoreConfig
    from tests.storage_support import make_article, make_raw, vietnamese_text, article_url

    async def main(path: str, seed: int) -> None:
        rng = random.Random(seed)
        store = await SqliteStore.open(path, StoreConfig(compression_level=0))
        n, done = 0, []
        while True:
            batch = []
            for _ in range(rng.randint(1, 30)):
                url = article_url(rng.randrange(n + 1)) if rng.random() < 0.2 else article_url(n)
                n += 1
                text = vietnamese_text(rng, 3, 60)
                raw = make_raw(url, (text * 8).encode())
                batch.append(StoreRequest(make_article(url, text), raw))
            sys.stdout.write("".join(f"{r.seq} {r.content_hash}\\n" for r in done))
            sys.stdout.flush()
            done = await store.store_articles(batch)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


def _kill_writer_at_random(db: Path, seed: int) -> dict[int, str]:
    rng = random.Random(seed)
    reported: dict[int, str] = {}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(seed)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        target = rng.randint(20, 400)  # a random number of committed articles, then SIGKILL
        deadline = time.monotonic() + 60
        while len(reported) < target:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"writer exited early: {proc.stderr.read() if proc.stderr else ''}")
            seq, digest = line.split()
            reported[int(seq)] = digest
            assert time.monotonic() < deadline, "writer too slow"
        os.kill(proc.pid, signal.SIGKILL)
        # lines already in the pipe were committed too
        for line in proc.stdout:
            seq, digest = line.split()
            reported[int(seq)] = digest
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return reported


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sigkill_mid_transaction_loses_nothing_committed(tmp_path: Path, seed: int) -> None:
    db = tmp_path / "v.db"
    reported = _kill_writer_at_random(db, seed)
    assert (tmp_path / "v.db-wal").exists()  # the kill left a WAL to recover from

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = dict(conn.execute("SELECT seq, content_hash FROM articles"))
    finally:
        conn.close()
    missing = {seq: h for seq, h in reported.items() if stored.get(seq) != h}
    assert missing == {}
    check_invariants(db)

    # and the next process carries on where the killed one stopped
    async with await SqliteStore.open(db) as store:
        url = "https://vksndtc.gov.vn/tin-tuc/x/sau-khi-khoi-phuc-d2-t999999.html"
        result = await store.store_article(make_article(url, "Sau khi khôi phục."),
                                           make_raw(url), None, None)  # fmt: skip
    assert result.seq == max(stored) + 1
