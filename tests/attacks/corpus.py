"""The attack corpus: named attacks, each a realistic input and the exact code it must be refused with.

Every module of this package declares a table of ``Attack`` rows and runs them through ``refused``; a refused
attack is counted per platform, and the suite prints the tally at the end of the run (``conftest.py``).
An attack that is accepted fails its test: the corpus tolerates zero acceptances.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from app_integrity.errors import AppIntegrityError

TALLY: Counter[str] = Counter()


@dataclass(frozen=True, slots=True)
class Attack:
    """One attack: what it is, which platform it targets, the code it must end in, and how to mount it."""

    name: str
    platform: str
    code: str
    mount: Callable[[], object]

    def __str__(self) -> str:
        return self.name


class Graded(Protocol):
    """A verifier result that grades a genuine proof (Play Integrity verdicts, key attestation posture)."""

    @property
    def tier(self) -> str: ...

    @property
    def failed(self) -> tuple[str, ...]: ...


def refused(attack: Attack) -> None:
    """Mount the attack: it must raise an ``AppIntegrityError`` with exactly the expected code, or (for a proof
    that is genuine but vouches for a compromised device or app) grade it below ``device`` with that code failed,
    so that no policy allows it at the device tier."""
    error: AppIntegrityError | None = None
    try:
        result = attack.mount()
    except AppIntegrityError as exc:
        error = exc
    if error is not None:
        assert error.code == attack.code, f"{attack.name}: {error!r}"
    else:
        assert hasattr(result, "failed"), f"{attack.name}: accepted ({result!r})"
        graded = cast(Graded, result)
        assert attack.code in graded.failed, f"{attack.name}: accepted ({result!r})"
        assert graded.tier in ("basic", "none"), f"{attack.name}: accepted at tier {graded.tier}"
    record(attack.platform)


def record(platform: str) -> None:
    TALLY[platform] += 1


def ids(table: list[Attack]) -> list[str]:
    names = [attack.name for attack in table]
    assert len(names) == len(set(names)), "attack names are unique"
    return names
