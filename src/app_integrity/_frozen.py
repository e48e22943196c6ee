"""Build frozen, slotted dataclasses on hot paths for what a plain slotted class costs.

The ``__init__`` that ``dataclass(frozen=True)`` writes stores each field with ``object.__setattr__(self, name,
value)``, a lookup by name per field: a verdict and its grade are eight such objects, and building them that way
measured at twice what storing the fields costs. A builder makes an instance of a plain twin class with the same
slots, stores the fields with the interpreter's own slot store, then gives the instance the frozen class: CPython
allows ``__class__`` to change between classes of the same layout, and refuses otherwise. The result is what
``cls(...)`` returns: the same type, equal, the same hash and repr, frozen from then on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def builder(cls: type[T]) -> Callable[..., T]:
    """A constructor taking every field of ``cls`` positionally, in declaration order (defaults do not apply)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__} is not a frozen dataclass derived from object alone")
    names = tuple(field.name for field in dataclasses.fields(cls))  # type: ignore[arg-type]  # checked just above
    if cls.__dict__.get("__slots__") != names:
        raise TypeError(f"{cls.__name__} does not keep exactly its fields in slots (dataclass(slots=True))")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has __post_init__, which a builder would not call")
    if not all(name.isidentifier() for name in names):  # they go into generated source; dataclass fields always are
        raise TypeError(f"{cls.__name__} has a field that is not an identifier")
    twin = type(f"{cls.__name__}Twin", (), {"__slots__": names})
    stores = "".join(f"    obj.{name} = {name}\n" for name in names)
    source = (
        f"def build({', '.join(names)}):\n    obj = _new(_twin)\n{stores}    obj.__class__ = _cls\n    return obj\n"
    )
    namespace: dict[str, Any] = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    exec(source, namespace)  # noqa: S102 - source made of the class's own field names
    build: Callable[..., T] = namespace["build"]
    build.__name__ = build.__qualname__ = f"build_{cls.__name__}"
    build(*(None for _ in names))  # a layout CPython refuses fails here, at import, not on a request
    return build
