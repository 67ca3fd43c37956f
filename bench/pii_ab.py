"""PII scan speed of this tree against an earlier commit, in one process, taking turns.

Run ``python -m bench.pii_ab REV`` (a commit, tag or branch; ``--rounds`` to change the 15
rounds). The machine's speed drifts by up to 2x over seconds, so two benchmark runs, one per tree,
compare two machines. Here the commit's ``src/tokenveil`` is exported with ``git archive``, its C
extension compiled with this interpreter's flags, and the package imported under another name
(``tokenveil_base``) beside this tree's; every body is then scanned by both in turn, round after
round, and each keeps its best round. Needs git and a C compiler; writes only to a temporary
directory.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

from bench.corpus import api_pages
from bench.pii import SEED, pages_for, rates, repeated, size_label
from tokenveil import pii

__all__ = ["main"]

_BASE = "tokenveil_base"
_IMPORT = re.compile(r"\btokenveil(?=[.\s])")


def _export(rev: str, into: Path) -> Path:
    """The commit's ``src/tokenveil`` as package ``tokenveil_base`` under ``into``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src/tokenveil"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / _BASE
    (into / "src" / "tokenveil").rename(package)
    for source in package.rglob("*.py"):
        source.write_text(_IMPORT.sub(_BASE, source.read_text()))
    return package


def _build(package: Path) -> None:
    """Compile the commit's C extension in place, as ``pip install`` would (same flags)."""
    c_file = package / "pii" / "_speedups.c"
    if not c_file.exists():
        return
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    cflags = (sysconfig.get_config_var("CFLAGS") or "").split()
    include = sysconfig.get_paths()["include"]
    target = package / "pii" / f"_speedups{suffix}"
    subprocess.run(
        [*cc, "-shared", "-fPIC", *cflags, f"-I{include}", str(c_file), "-o", str(target)],
        check=True,
    )


def _compare(base: ModuleType, rounds: int) -> None:
    print(
        f"  {'size':>14}  {'body':>5}  {'json.loads':>10}  {'base':>8}  {'this tree':>9}"
        f"  {'this/base':>9}  findings (base, this)"
    )
    for size in (1_000, 10_000, 100_000, 1_000_000, 10_000_000):
        pages = pages_for(size)
        for label, every in (("clean", 0), ("PII", 8)):
            bodies = api_pages(size, pages, seed=SEED, pii_every=every)
            nbytes = sum(map(len, bodies))
            reps = max(1, 500_000 // nbytes)
            rate = rates(
                {
                    name: (repeated(fn, bodies, reps), nbytes * reps)
                    for name, fn in (
                        ("json", json.loads),
                        ("base", base.find_in_json),
                        ("this", pii.find_in_json),
                    )
                },
                rounds,
            )
            counts = (
                sum(len(base.find_in_json(b)) for b in bodies),
                sum(len(pii.find_in_json(b)) for b in bodies),
            )
            print(
                f"  {size_label(nbytes, pages):>14}  {label:>5}  {rate['json']:>10.1f}"
                f"  {rate['base']:>8.1f}  {rate['this']:>9.1f}"
                f"  {rate['this'] / rate['base']:>9.2f}  {counts}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    """Export, build and import ``REV``, then print the side-by-side curve."""
    parser = argparse.ArgumentParser(prog="python -m bench.pii_ab", description=__doc__)
    parser.add_argument("rev", help="the commit to compare against (e.g. d78c4da)")
    parser.add_argument("--rounds", type=int, default=15, help="rounds per body")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tokenveil-ab-") as tmp:
        package = _export(args.rev, Path(tmp))
        _build(package)
        sys.path.insert(0, tmp)
        base = importlib.import_module(f"{_BASE}.pii")
        loops = importlib.import_module(f"{_BASE}.pii._structure")
        print(
            f"== PII scan, {args.rev} (base) against this tree, one process, best of"
            f" {args.rounds} rounds taken in turn; C speedups: base {loops.has_speedups()},"
            f" this tree {importlib.import_module('tokenveil.pii._structure').has_speedups()} =="
        )
        _compare(base, args.rounds)


if __name__ == "__main__":
    main(sys.argv[1:])
