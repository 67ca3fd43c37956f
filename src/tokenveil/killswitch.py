"""The kill switch: reject every access token issued so far, and optionally more.

``TokenService.purge`` drives it; this module holds the pure parts:

- :func:`next_cutoff` picks the cut-off instant. Access tokens carry ``iat`` in whole seconds
  while the cut-off is a float, so the issuer stamps ``iat = max(int(now), ceil(cutoff))``
  (a token issued after the switch always passes) and the cut-off is chosen strictly above every
  ``iat`` already stamped (a token issued before it never does), even for two purges in the
  same second.
- :func:`parse_families` reads the ``--revoke-families`` choice: ``none``, ``suspect`` (flagged
  by the monitor), ``unbound`` (every family not DPoP-bound: a bearer refresh token can be
  replayed by whoever stole it, a DPoP-bound one needs the private key too, RFC 9449 §5),
  ``all``, or one user's login name.
- :class:`PurgeReport` says what was done, in counts: it goes to the audit trail, the CLI and
  the admin endpoint, so it holds no login name and no token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from tokenveil.errors import InvalidRequest
from tokenveil.store import RefreshStore

__all__ = [
    "FAMILY_CHOICES",
    "FamilySelection",
    "PurgeReport",
    "next_cutoff",
    "parse_families",
    "revoke_selected_families",
]

FamilyKind = Literal["none", "suspect", "unbound", "all", "user"]
FAMILY_CHOICES: tuple[str, ...] = ("none", "suspect", "unbound", "all")
_USER_PREFIX = "user:"


@dataclass(frozen=True, slots=True)
class FamilySelection:
    """Which refresh families a purge revokes. ``username`` only for kind ``user``."""

    kind: FamilyKind
    username: str | None = None

    def __repr__(self) -> str:
        # A login name is personal data: never in a repr that may reach a log.
        return f"FamilySelection(kind={self.kind!r})"


def parse_families(value: str | None) -> FamilySelection:
    """``none`` | ``suspect`` | ``unbound`` | ``all`` | ``user:NAME`` | ``NAME``."""
    if value is None or value == "":
        return FamilySelection("none")
    if value in FAMILY_CHOICES:
        return FamilySelection(value)  # type: ignore[arg-type]
    name = value.removeprefix(_USER_PREFIX)
    if not name or len(name) > 256:
        raise InvalidRequest("revoke_families must be none, suspect, unbound, all or a username")
    return FamilySelection("user", name)


def next_cutoff(now: float, previous: float | None) -> float:
    """The new cut-off: strictly above ``now`` and above every ``iat`` stamped so far.

    Since the previous purge the issuer stamped at most ``max(int(t), ceil(previous))`` with
    ``t <= now``, so anything strictly greater rejects them all.
    """
    floor = max(now, float(math.ceil(previous))) if previous else now
    return math.nextafter(floor, math.inf)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one purge did: counts and public key ids only."""

    cutoff: float
    families: FamilyKind
    families_revoked: int
    keys_rotated: bool
    keys_revoked: int = 0
    active_kid: str | None = None
    #: When the purge began changing state (this instance's clock, read before the emergency
    #: rotation, the family revocations and the cut-off, so no instance can reject an old token
    #: because of this purge earlier). The cut-off itself may lie up to a second ahead (see
    #: :func:`next_cutoff`); propagation is measured from this instant.
    started_at: float = 0.0

    def as_dict(self) -> dict[str, str | int | float | bool | None]:
        return {
            "cutoff": self.cutoff,
            "families": self.families,
            "families_revoked": self.families_revoked,
            "keys_rotated": self.keys_rotated,
            "keys_revoked": self.keys_revoked,
            "active_kid": self.active_kid,
            "started_at": self.started_at,
        }


async def revoke_selected_families(
    store: RefreshStore, selection: FamilySelection, now: float, *, sub: str | None = None
) -> int:
    """Revoke the selected families; returns how many. ``sub`` is the user's id for ``user``."""
    reason = "killswitch"
    if selection.kind == "none":
        return 0
    if selection.kind == "all":
        return await store.revoke_families(now, reason)
    if selection.kind == "suspect":
        return await store.revoke_families(now, reason, only_suspect=True)
    if selection.kind == "user":
        if sub is None:
            return 0
        return await store.revoke_families(now, reason, sub=sub)
    # "unbound": the store protocol has no filter for it, so walk the live families.
    count = 0
    for family in await store.list_families():
        if family.dpop_jkt is None and family.revoked_at is None and family.expires_at > now:
            await store.revoke_family(family.id, now, reason)
            count += 1
    return count
