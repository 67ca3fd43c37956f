"""Types of the optional C module (``_speedups.c``); see it for what each function does."""

from collections.abc import Callable, Sequence

from tokenveil.pii._engine import Raw, _GateHits
from tokenveil.pii._evidence import Hint
from tokenveil.pii._finding import Finding
from tokenveil.pii._structure import Loc

def collect(
    root: object,
    root_hint: Hint,
    key_hint: Callable[[str, Hint], Hint],
    no_hint: Hint,
    caches: tuple[dict[str, tuple[Hint, int]], dict[str, tuple[Hint, int]]],
    cache_max: int,
    min_str: int,
    min_int: int,
    /,
) -> tuple[list[str], list[Loc], list[str | int | None], list[Hint], list[int], bytes]: ...
def leaves(
    data: bytes,
    root_hint: Hint,
    key_hint: Callable[[str, Hint], Hint],
    no_hint: Hint,
    caches: tuple[dict[str, tuple[Hint, int]], dict[str, tuple[Hint, int]]],
    cache_max: int,
    min_str: int,
    min_int: int,
    max_depth: int,
    /,
) -> tuple[list[str], list[Loc], list[str | int | None], list[Hint], list[int], bytes] | None: ...
def join(
    values: list[str], hints: list[Hint], negative: bytes, /
) -> tuple[str, bytes, list[Hint], bytes | None, int]: ...
def long_digit_run(data: bytes, /) -> bool: ...
def gates(
    text: str,
    starts: Sequence[int] | memoryview,
    runs_end: int,
    triggers: tuple[str, ...],
    shape_table: bytes,
    /,
) -> _GateHits | None: ...
def bind(
    raws: list[Raw],
    parents: list[Loc],
    steps: list[str | int | None],
    min_confidence: float,
    wanted: frozenset[str] | None,
    finding_type: type[Finding],
    step_text: Callable[[object], str],
    round: Callable[[float, int], float],
    /,
) -> list[Finding]: ...

KEY_PROBES_BASE: int
KEY_PROBES_PER_LOOKUP: int

def _key_table_hash(data: bytes, /) -> int: ...
def _key_table_stats() -> tuple[int, int, int, int]: ...
