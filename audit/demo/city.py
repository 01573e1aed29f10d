"""A generated city: several districts (区县) of Chongqing in one ledger bundle.

Each district is a county as :func:`audit.demo.generator.generate_bundle` makes it, under its own
real district name and 6-digit code (the people are synthetic), with the planted cases of
:func:`audit.demo.plant.plant_cases`. The districts are written one after the other into
``outdir/districts/<code>/`` and then appended, table by table, to one CSV bundle in ``outdir``;
their manifests make one ``outdir/expected.json``.

The districts draw their ID numbers, phones, bank accounts and credit codes from one shared
:class:`~audit.demo.generator.Taken`, so no two districts share a person, a phone (IM02 would see
one phone checking in people of two districts), an account (IM04) or a company's credit code;
households, villages, posts and workshops carry the district's code and cannot collide.

Usage::

    python -m audit.demo.city /work/city-data/city --districts 10 --persons 10000
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

from .generator import HEADERS, Taken, generate_bundle
from .plant import as_of_for, plant_cases

__all__ = ["generate_city", "DISTRICTS"]

# Real district and county names of Chongqing with their administrative division codes (GB/T 2260);
# 奉节县 first: a one-district city is the demo county.
DISTRICTS: tuple[tuple[str, str], ...] = (
    ("奉节县", "500236"), ("云阳县", "500235"), ("巫山县", "500237"), ("巫溪县", "500238"),
    ("开州区", "500154"), ("城口县", "500229"), ("丰都县", "500230"), ("忠县", "500233"),
    ("垫江县", "500231"), ("梁平区", "500155"), ("武隆区", "500156"), ("石柱土家族自治县", "500240"),
    ("秀山土家族苗族自治县", "500241"), ("酉阳土家族苗族自治县", "500242"),
    ("彭水苗族土家族自治县", "500243"),
)


def _append(src: Path, dst: Path) -> int:
    """Append the rows of CSV ``src`` to ``dst`` (the header only if dst is new); the rows appended
    (the generator writes no line breaks inside fields)."""
    rows = 0
    with open(src, "rb") as fin:
        header = fin.readline()
        new = not dst.exists()
        with open(dst, "ab") as fout:
            if new:
                fout.write(header)
            while block := fin.read(1 << 20):
                rows += block.count(b"\n")
                fout.write(block)
    return rows


def generate_city(outdir: str | os.PathLike, *, districts: int = 10, persons: int = 10_000,
                  start: dt.date = dt.date(2025, 1, 1), months: int = 12, seed: int = 2026,
                  keep_districts: bool = False, log=None) -> dict:
    """Write the city's bundle (one CSV per table) and ``expected.json`` into outdir; return the
    summary ``{"districts": [...], "counts": {table: rows}, "findings": n, "as_of": "YYYY-MM-DD"}``.

    ``districts`` of :data:`DISTRICTS` (at most 15), ``persons`` each before the planted cases;
    counts are rows written, planted ones included.
    Every district gets its own seed (derived from ``seed``), so the output is a pure function of
    the arguments. The per-district folders are removed unless ``keep_districts``."""
    if not 1 <= districts <= len(DISTRICTS):
        raise ValueError(f"districts must be between 1 and {len(DISTRICTS)}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for table in HEADERS:
        (out / f"{table}.csv").unlink(missing_ok=True)
    start = start.replace(day=1)
    taken = Taken()
    findings: list[dict] = []
    lookalikes: list[dict] = []
    summary = []
    totals = {t: 0 for t in HEADERS}
    for i, (name, code) in enumerate(DISTRICTS[:districts]):
        started = time.perf_counter()
        folder = out / "districts" / code
        shutil.rmtree(folder, ignore_errors=True)
        dseed = seed + 1009 * i
        counts = generate_bundle(folder, persons=persons, start=start, months=months, seed=dseed,
                                 district=name, district_code=code, taken=taken)
        manifest = plant_cases(folder, start=start, months=months, seed=dseed, district=name,
                               district_code=code, taken=taken)
        planted = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        findings.extend(manifest)
        lookalikes.extend(planted["lookalikes"])
        counts = {t: _append(folder / f"{t}.csv", out / f"{t}.csv") if (folder / f"{t}.csv").exists() else 0
                  for t in HEADERS}  # the generated and the planted rows
        summary.append({"district": name, "code": code, "persons": persons, "seed": dseed,
                        "counts": counts, "findings": len(manifest)})
        for t, n in counts.items():
            totals[t] += n
        if not keep_districts:
            shutil.rmtree(folder)
        if log:
            log(f"{name}（{code}）：{persons} 人，考勤 {counts['attendance']:,} 行，植入 {len(manifest)} 条，"
                f"{time.perf_counter() - started:.0f} s")
    if not keep_districts:
        shutil.rmtree(out / "districts", ignore_errors=True)
    as_of = as_of_for(start, months).isoformat()
    with open(out / "expected.json", "w", encoding="utf-8") as fh:
        json.dump({"as_of": as_of, "districts": summary, "findings": findings, "lookalikes": lookalikes}, fh,
                  ensure_ascii=False, indent=1)
    return {"districts": summary, "counts": totals, "findings": len(findings), "as_of": as_of}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Write a synthetic city (several districts) as one ledger bundle.")
    ap.add_argument("outdir", help="folder to write the CSV files and expected.json into")
    ap.add_argument("--districts", type=int, default=10, help=f"number of districts, 1-{len(DISTRICTS)}")
    ap.add_argument("--persons", type=int, default=10_000, help="persons per district (default 10000)")
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 1, 1))
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    result = generate_city(args.outdir, districts=args.districts, persons=args.persons, start=args.start,
                           months=args.months, seed=args.seed, log=print)
    for table, n in result["counts"].items():
        print(f"{table:<18}{n:>12,}")
    print(f"planted findings: {result['findings']:,}; as of {result['as_of']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
