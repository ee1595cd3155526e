"""Plain frozen values, cheap to define: the core's records and messages.

``class Heads(Value): local: str; remote: str`` is a frozen record with slots, compared
and hashed by its fields, shown as ``Heads(local=..., remote=...)`` and matched by
position (``case Heads(local, remote)``), as a frozen slots dataclass is. A default is
written as the field's value, or as ``field(default_factory=dict)``; ``replace`` makes a
copy with some fields changed.

Why not ``dataclasses``: a dataclass writes and compiles six methods when its class is
defined, about 0.7 ms each class, and a check with nothing to do loads some sixty of them
before it fetches. Here a class is defined for about the cost of a plain class: equality,
hashing and ``repr`` are shared, and ``__init__`` is written for the class when its first
value is made (a check that makes none pays nothing for it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar, dataclass_transform

_V = TypeVar("_V", bound="Value")
_T = TypeVar("_T")


class FrozenValueError(AttributeError):
    """A field of a value was assigned or deleted: values never change."""


class _Factory:
    """A default made anew for each value (``field(default_factory=...)``)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], _T]) -> _T:
    """A default that each value makes anew, such as an empty dict."""
    return _Factory(default_factory)  # type: ignore[return-value]


class _ValueType(type):
    """Gives each class of values its slots and the names of its fields, in order."""

    def __new__(
        mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> _ValueType:
        inherited: tuple[str, ...] = ()
        defaults: dict[str, object] = {}
        for base in reversed(bases):
            inherited += tuple(f for f in getattr(base, "_fields", ()) if f not in inherited)
            defaults.update(getattr(base, "_defaults", {}))
        own = tuple(
            each
            for each, annotation in namespace.get("__annotations__", {}).items()
            if not _is_class_var(annotation) and each not in inherited
        )
        for each in own:
            if each in namespace:
                defaults[each] = namespace.pop(each)
                if type(defaults[each]).__module__ == "dataclasses":
                    # dataclasses.field(): its Field object would be the default itself.
                    raise TypeError(f"{name}.{each}: use gitops_compose.core.value.field")
        fields = inherited + own
        namespace["__slots__"] = own
        namespace["_fields"] = fields
        namespace["__match_args__"] = fields
        namespace["_defaults"] = defaults
        if "__init__" not in namespace:
            namespace["__init__"] = _first_init
        return super().__new__(mcs, name, bases, namespace, **kwargs)


def _is_class_var(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _first_init(self: Value, *args: Any, **kwargs: Any) -> None:
    """Writes ``__init__`` for the class of ``self``, then makes ``self`` with it."""
    cls = type(self)
    init = _written_init(cls._fields, cls._defaults)
    type.__setattr__(cls, "__init__", init)
    init(self, *args, **kwargs)


def _written_init(fields: tuple[str, ...], defaults: Mapping[str, object]) -> Callable[..., None]:
    parameters, body = [], []
    scope: dict[str, object] = {"_set": object.__setattr__}
    for each in fields:
        default = defaults.get(each, _NO_DEFAULT)
        if default is _NO_DEFAULT:
            parameters.append(each)
            body.append(f" _set(self, {each!r}, {each})")
        elif isinstance(default, _Factory):
            scope[f"_make_{each}"] = default.make
            parameters.append(f"{each}=_FACTORY")
            body.append(f" _set(self, {each!r}, _make_{each}() if {each} is _FACTORY else {each})")
        else:
            scope[f"_default_{each}"] = default
            parameters.append(f"{each}=_default_{each}")
            body.append(f" _set(self, {each!r}, {each})")
    scope["_FACTORY"] = _NO_DEFAULT
    source = f"def __init__(self, {', '.join(parameters)}):\n" + ("\n".join(body) or " pass")
    exec(source, scope)
    init: Callable[..., None] = scope["__init__"]  # type: ignore[assignment]
    return init


_NO_DEFAULT: Any = object()


@dataclass_transform(frozen_default=True, eq_default=True, field_specifiers=(field,))
class Value(metaclass=_ValueType):
    """A frozen record: see the module's docstring."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]]
    _defaults: ClassVar[Mapping[str, object]]

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, each) for each in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((self.__class__.__name__, *self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{each}={getattr(self, each)!r}" for each in self._fields)
        return f"{self.__class__.__qualname__}({shown})"

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenValueError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenValueError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, self._values())


def replace(value: _V, /, **changes: Any) -> _V:
    """A copy of ``value`` with these fields changed."""
    cls = type(value)
    unknown = changes.keys() - set(cls._fields)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    return cls(**{each: changes.get(each, getattr(value, each)) for each in cls._fields})


def field_names(cls: type[Value]) -> tuple[str, ...]:
    """The fields of a class of values, in the order ``__init__`` takes them."""
    return cls._fields
