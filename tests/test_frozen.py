"""Builders of frozen, slotted dataclasses give what the class's own constructor gives; the clock in milliseconds."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app_integrity._clock import now_millis
from app_integrity._frozen import builder
from app_integrity.android.play.evaluate import PlayIntegrityResult, PlaySignals
from app_integrity.android.play.verdict import (
    AccountDetails,
    AppIntegrity,
    DeviceIntegrity,
    DeviceRecall,
    EnvironmentDetails,
    IntegrityVerdict,
    RequestDetails,
)
from app_integrity.errors import InputError


@dataclasses.dataclass(frozen=True, slots=True)
class Pair:
    left: object
    right: object = None


def test_built_object_is_the_constructed_one() -> None:
    made = builder(Pair)(1, [2])
    expected = Pair(1, [2])
    assert type(made) is Pair
    assert made == expected
    assert repr(made) == repr(expected)
    assert dataclasses.astuple(made) == (1, [2])
    assert dataclasses.replace(made, left=3) == Pair(3, [2])
    assert pickle.loads(pickle.dumps(made)) == expected  # noqa: S301 - bytes this test just made
    assert copy.deepcopy(made) == expected
    assert hash(builder(Pair)(1, 2)) == hash(Pair(1, 2))


def test_built_object_is_frozen() -> None:
    made = builder(Pair)(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.left = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del made.right
    assert made == Pair(1, 2)


def test_every_field_is_required_positionally() -> None:
    build = builder(Pair)
    with pytest.raises(TypeError):
        build(1)
    with pytest.raises(TypeError):
        build(1, 2, 3)


@pytest.mark.parametrize(
    "cls",
    [
        RequestDetails,
        AppIntegrity,
        DeviceRecall,
        DeviceIntegrity,
        AccountDetails,
        EnvironmentDetails,
        IntegrityVerdict,
        PlaySignals,
        PlayIntegrityResult,
    ],
)
def test_the_verdict_types_build(cls: type[object]) -> None:
    values = [object() for _ in cls.__slots__]  # type: ignore[attr-defined]  # the fields, as builder checks
    made: object = builder(cls)(*values)
    assert made == cls(*values)
    assert type(made) is cls


def test_unsupported_classes_are_refused_at_once() -> None:
    @dataclasses.dataclass(slots=True)
    class Mutable:
        value: int

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        value: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            raise AssertionError

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived(Pair):
        extra: object = None

    class Plain:
        __slots__ = ("value",)

    for cls in (Mutable, NoSlots, Checked, Derived, Plain):
        with pytest.raises(TypeError):
            builder(cls)


def test_now_millis() -> None:
    before = time.time_ns() // 1_000_000
    current = now_millis(None)
    assert before <= current <= time.time_ns() // 1_000_000
    at = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert now_millis(at) == int(at.timestamp() * 1000) == int(at.astimezone(UTC).timestamp() * 1000)
    with pytest.raises(InputError):
        now_millis(datetime(2026, 11, 28, 12, 0))  # naive: refused as resolve_now refuses it
