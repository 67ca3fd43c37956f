"""``make bench``: every benchmark in one run, each against named peers, printing ratios."""

from __future__ import annotations

import importlib
import sys

#: Each module exposes ``main()``; run alone with ``python -m bench.<name>``.
BENCHMARKS = ("verify", "pii", "edge", "defence", "killswitch")


def main() -> None:
    only = set(sys.argv[1:])
    for name in BENCHMARKS:
        if only and name not in only:
            continue
        module = importlib.import_module(f"bench.{name}")
        module.main()


if __name__ == "__main__":
    main()
