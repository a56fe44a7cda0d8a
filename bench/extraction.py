"""Article-body extraction on real pages: vksnd's generic path beside trafilatura and readability.

    python bench/extraction.py [--bench DIR] [--repeat R] [--worst N] [--ids even|odd]
                               [--predictions FILE]

The benchmark folder (``--bench``, else ``$VKSND_EXTRACTION_BENCH``, else
``../shared/extraction-bench`` beside the repository) holds ``html/<id>.html.gz``,
``ground-truth.json`` and ``score.py``; the metric is that ``score.py``'s own functions, imported
from the folder, so the numbers here are the ones ``python score.py predictions.json`` prints.

vksnd runs with no profile body selector, so every page takes the generic path (as on a site no
profile describes). trafilatura runs ``extract`` without comments, readability-lxml ``summary``;
both are the ``bench`` extra, and a missing one is reported, not fatal.

Each extractor runs in its own worker process (this script with ``--worker NAME``): the first
pass gives its predictions (and warms it up), then timed passes run round by round across the
workers, so a busy machine slows all alike and no extractor's heap slows another's.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from types import ModuleType

from vksnd.parsers.article import parse_article
from vksnd.parsers.errors import ParseError
from vksnd.parsers.profiles.vksndtc import PROFILE

ROOT = Path(__file__).resolve().parent.parent

ENV_VAR = "VKSND_EXTRACTION_BENCH"
DEFAULT_BENCH = ROOT.parent / "shared" / "extraction-bench"
GENERIC_PROFILE = dataclasses.replace(
    PROFILE, selectors=dataclasses.replace(PROFILE.selectors, body=())
)
TARGET_F1 = 0.970
TARGET_VS_TRAFILATURA = 5.0
TARGET_DATES = 0.95

Page = tuple[str, bytes, str]  # id, body, url


def bench_dir(arg: str | None = None) -> Path:
    return Path(arg or os.environ.get(ENV_VAR) or DEFAULT_BENCH)


def load_score(folder: Path) -> ModuleType:
    """The benchmark's own ``score.py`` as a module (its ``main`` is not run)."""
    spec = importlib.util.spec_from_file_location("extraction_bench_score", folder / "score.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(folder / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_truth(folder: Path) -> dict[str, dict[str, str]]:
    truth: dict[str, dict[str, str]] = json.loads(
        (folder / "ground-truth.json").read_text(encoding="utf-8")
    )
    return truth


def load_pages(folder: Path, ids: str = "all") -> list[Page]:
    truth = load_truth(folder)
    keys = sorted(truth)
    if ids != "all":
        keys = [k for k in keys if (int(k[:8], 16) % 2 == 0) == (ids == "even")]
    return [
        (k, gzip.decompress((folder / "html" / f"{k}.html.gz").read_bytes()), truth[k]["url"])
        for k in keys
    ]


# -- extractors (each returns body text, published date ISO or None, author or None) ----------
Result = tuple[str, str | None, str | None]


def _vksnd(body: bytes, url: str) -> Result:
    try:
        article = parse_article(body, url, profile=GENERIC_PROFILE)
    except ParseError as exc:
        return "", None, f"!{type(exc).__name__}:{getattr(exc, 'kind', '')}"
    published = article.published_at.date().isoformat() if article.published_at else None
    return article.text, published, article.author


def _trafilatura(body: bytes, url: str) -> Result:
    import trafilatura

    return trafilatura.extract(body, url=url, include_comments=False) or "", None, None


def _trafilatura_date(body: bytes, url: str) -> str | None:
    import trafilatura

    meta = trafilatura.extract_metadata(body, default_url=url)
    return meta.date[:10] if meta is not None and meta.date else None


def _readability(body: bytes, url: str) -> Result:
    import lxml.html
    from readability import Document

    summary = Document(body, url=url).summary(html_partial=True)
    root = lxml.html.fromstring(summary)
    return " ".join(t.strip() for t in root.itertext() if t.strip()), None, None


RUNNERS: dict[str, Callable[[bytes, str], Result]] = {
    "vksnd": _vksnd,
    "trafilatura": _trafilatura,
    "readability": _readability,
}
MODULES = {"trafilatura": "trafilatura", "readability": "readability"}


def available(name: str) -> bool:
    module = MODULES.get(name)
    return module is None or importlib.util.find_spec(module) is not None


def _time_pass(run: Callable[[bytes, str], Result], pages: Sequence[Page]) -> float:
    start = time.process_time()
    for _, body, url in pages:
        run(body, url)
    return time.process_time() - start


def worker(name: str, folder: Path, ids: str, out: Path) -> None:
    """One extractor: predictions (the first pass) to ``out``, then one timed pass per stdin
    line, its CPU seconds printed."""
    run = RUNNERS[name]
    pages = load_pages(folder, ids)
    results: dict[str, dict[str, str | None]] = {}
    for key, body, url in pages:
        text, published, author = run(body, url)
        results[key] = {"articleBody": text, "date": published, "author": author}
        if name == "trafilatura":
            results[key]["date"] = _trafilatura_date(body, url)
    out.write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    print("ready", flush=True)
    for _ in sys.stdin:
        print(f"{_time_pass(run, pages):.9f}", flush=True)


def run_workers(
    names: Sequence[str], folder: Path, ids: str, repeat: int
) -> tuple[dict[str, dict[str, dict[str, str | None]]], dict[str, float]]:
    """Predictions and best-of-``repeat`` pages/s of each extractor, interleaved rounds."""
    count = len(load_pages(folder, ids))
    with tempfile.TemporaryDirectory() as tmp:
        outs = {name: Path(tmp) / f"{name}.json" for name in names}
        procs = {
            name: subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    name,
                    "--bench",
                    str(folder),
                    "--ids",
                    ids,
                    "--out",
                    str(outs[name]),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for name in names
        }
        best = dict.fromkeys(names, float("inf"))
        try:
            for proc in procs.values():
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != "ready":
                    raise RuntimeError("a bench worker failed to start")
            for _ in range(repeat):
                for name, proc in procs.items():
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                    best[name] = min(best[name], float(proc.stdout.readline()))
        finally:
            for proc in procs.values():
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait()
        predictions = {n: json.loads(outs[n].read_text(encoding="utf-8")) for n in names}
    return predictions, {n: count / s for n, s in best.items()}


# -- scoring ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float
    f1: float
    below_half: int
    empty: int
    per_page: dict[str, tuple[float, float, float]]  # id -> (P, R, F1)


def score(
    score_py: ModuleType, truth: dict[str, dict[str, str]], predicted: dict[str, str]
) -> Score:
    """``score.py``'s metric over the pages in ``predicted``."""
    counts = {
        k: score_py.page_counts(truth[k].get("articleBody", ""), predicted.get(k, ""))
        for k in sorted(predicted)
    }
    p = statistics.mean(score_py.precision(*c) for c in counts.values() if c[0] + c[1] > 0)
    r = statistics.mean(score_py.recall(*c) for c in counts.values() if c[0] + c[2] > 0)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    per_page = {
        k: (score_py.precision(*c), score_py.recall(*c), 2 * c[0] / (2 * c[0] + c[1] + c[2] or 1))
        for k, c in counts.items()
    }
    low = sum(1 for v in per_page.values() if v[2] < 0.5)
    empty = sum(1 for k in predicted if not (predicted[k] or "").strip())
    return Score(p, r, f1, low, empty, per_page)


def _days_apart(a: str | None, b: str | None) -> int:
    if not a or not b:
        return 1 << 30
    return abs((date.fromisoformat(a[:10]) - date.fromisoformat(b[:10])).days)


def _reason(p: float, r: float, text: str, author: str | None) -> str:
    if author and author.startswith("!"):
        return f"no article ({author[1:]})"
    if not text.strip():
        return "empty"
    if r < 0.5 and p >= 0.8:
        return "cut short (low recall)"
    if p < 0.5 and r >= 0.8:
        return "clutter or wrong block (low precision)"
    if p < 0.5 and r < 0.5:
        return "wrong block"
    return "clutter" if p < r else "parts missing"


def report(
    folder: Path,
    predictions: dict[str, dict[str, dict[str, str | None]]],
    rates: dict[str, float],
    worst: int,
) -> None:
    score_py = load_score(folder)
    truth = load_truth(folder)
    scores = {
        name: score(score_py, truth, {k: v["articleBody"] or "" for k, v in pred.items()})
        for name, pred in predictions.items()
    }
    pages = len(next(iter(predictions.values())))
    print(
        f"{pages} pages of {folder} (score.py's metric); pages/s: CPU time, best of the "
        "timed rounds, one process per extractor"
    )
    print(f"{'extractor':<14}{'P':>7}{'R':>7}{'F1':>7}{'<0.5':>6}{'empty':>7}{'pages/s':>9}")
    for name, s in scores.items():
        print(
            f"{name:<14}{s.precision:>7.3f}{s.recall:>7.3f}{s.f1:>7.3f}{s.below_half:>6}"
            f"{s.empty:>7}{rates[name]:>9.0f}"
        )
    ours = predictions["vksnd"]
    theirs = predictions.get("trafilatura")
    if theirs is not None:
        dated = [k for k, v in theirs.items() if v["date"]]
        found = [k for k in dated if ours[k]["date"]]
        same = [k for k in found if _days_apart(ours[k]["date"], theirs[k]["date"]) <= 1]
        print(
            f"\ndates: vksnd {sum(1 for v in ours.values() if v['date'])}/{pages} pages; "
            f"on the {len(dated)} where trafilatura finds one: vksnd {len(found)} "
            f"({len(found) / max(1, len(dated)):.1%}), within a day of it on {len(same)} "
            "(vksnd gives Vietnam time)"
        )
    authors = sorted(
        {str(v["author"]) for v in ours.values() if v["author"] and not v["author"].startswith("!")}
    )
    print(f"authors: {len(authors)} distinct: " + "; ".join(authors))
    s = scores["vksnd"]
    print(f"\nvksnd's {worst} worst pages")
    print(f"{'page':<12}{'P':>6}{'R':>6}{'F1':>6}{'chars':>8}{'truth':>8}  reason")
    for k in sorted(s.per_page, key=lambda k: s.per_page[k][2])[:worst]:
        p, r, f1 = s.per_page[k]
        text = ours[k]["articleBody"] or ""
        why = _reason(p, r, text, ours[k]["author"])
        size = len(truth[k]["articleBody"])
        print(f"{k[:10]:<12}{p:>6.2f}{r:>6.2f}{f1:>6.2f}{len(text):>8}{size:>8}  {why}")
    print("\ntargets (issue 16)")
    checks = [
        (f"vksnd F1 ≥ {TARGET_F1}", f"{s.f1:.3f}", s.f1 >= TARGET_F1),
        (
            "no page below 0.5, none empty",
            f"{s.below_half} / {s.empty}",
            s.below_half == 0 and s.empty == 0,
        ),
    ]
    if "trafilatura" in rates:
        ratio = rates["vksnd"] / rates["trafilatura"]
        checks.append(
            (
                f"pages/s ≥ {TARGET_VS_TRAFILATURA:.0f}× trafilatura",
                f"{ratio:.1f}×",
                ratio >= TARGET_VS_TRAFILATURA,
            )
        )
    if theirs is not None:
        share = len(found) / max(1, len(dated))
        checks.append(
            (
                f"dates on ≥ {TARGET_DATES:.0%} of trafilatura's",
                f"{share:.1%}",
                share >= TARGET_DATES,
            )
        )
    for label, value, met in checks:
        print(f"{label:<36}{value:>12}{'met' if met else 'NOT met':>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--bench",
        help=f"benchmark folder (default: ${ENV_VAR}, else "
        "../shared/extraction-bench beside the repository)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per extractor")
    parser.add_argument("--worst", type=int, default=15)
    parser.add_argument(
        "--ids",
        choices=("all", "even", "odd"),
        default="all",
        help="half of the pages, split by id (tune on one, check the other)",
    )
    parser.add_argument("--only", nargs="+", choices=sorted(RUNNERS), help="these extractors")
    parser.add_argument("--predictions", help="write vksnd's predictions here (score.py's input)")
    parser.add_argument("--worker", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = bench_dir(args.bench)
    if args.worker:
        worker(args.worker, folder, args.ids, Path(args.out))
        return
    if not (folder / "ground-truth.json").is_file():
        sys.exit(f"no benchmark at {folder} (pass --bench DIR or set ${ENV_VAR})")
    names = [n for n in (args.only or RUNNERS) if n == "vksnd" or available(n)]
    if "vksnd" not in names:
        names.insert(0, "vksnd")
    for name in set(args.only or RUNNERS) - set(names):
        print(f"{name}: not installed (the bench extra)")
    predictions, rates = run_workers(names, folder, args.ids, args.repeat)
    if args.predictions:
        bodies = {k: {"articleBody": v["articleBody"]} for k, v in predictions["vksnd"].items()}
        Path(args.predictions).write_text(json.dumps(bodies, ensure_ascii=False), encoding="utf-8")
    report(folder, predictions, rates, args.worst)


if __name__ == "__main__":
    main()
