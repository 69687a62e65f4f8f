"""What "every documented response field is filled" means, in one place.

The documented fields of an answer are those of the SDK's typed response
model: its generated classes list every field with its wire name and type.
assert_filled walks a typed body and the same body as sent, and reports
every field that is absent from the answer, None in the typed model, or of
another type than the model declares, at any depth. The fields rayfleet
leaves out on purpose are listed in NOT_SERVED with the reason; those must
stay out, so the list cannot go stale.
"""

import functools
import inspect
import sys
import typing

from darabonba.model import DaraModel

# (model class, wire name) -> why rayfleet does not send the field.
NOT_SERVED = {
    ("GetRayClusterResponseBodyHeadSpecGftConfig", "redisPassword"):
        "the GCS fault tolerance Redis password is write-only: it goes in, never out",
    ("ListWorkspacesResponseBodyWorkspaces", "prePaidQuota"):
        "rayfleet has no subscription billing, so no workspace has a prepaid quota to describe",
}

_ABSENT = object()


def _sample(tp):
    """A value of type tp that to_map writes out, to find a field's wire name."""
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_sample(item)]
    if origin is dict:
        return {"k": "v"}
    if isinstance(tp, type) and issubclass(tp, DaraModel):
        return tp()
    return {str: "s", int: 7, bool: True, float: 1.5}[tp]


@functools.cache
def documented_fields(cls):
    """[(attribute, wire name, type)] of a typed model class."""
    hints = typing.get_type_hints(cls.__init__, globalns=vars(sys.modules[cls.__module__]))
    names = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
    base = cls().to_map()
    out = []
    for name in names:
        probe = cls()
        setattr(probe, name, _sample(hints[name]))
        wire = [k for k, v in probe.to_map().items() if base.get(k, _ABSENT) != v]
        assert len(wire) == 1, f"{cls.__name__}.{name}: cannot tell its wire name ({wire})"
        out.append((name, wire[0], hints[name]))
    return out


def _type_ok(value, tp):
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    origin = typing.get_origin(tp)
    if origin is list:
        return isinstance(value, list)
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, tp)


def _walk(model, raw, path, problems):
    for attr, wire, tp in documented_fields(type(model)):
        value = getattr(model, attr)
        raw_value = raw.get(wire, _ABSENT) if isinstance(raw, dict) else _ABSENT
        where = f"{path}.{wire}"
        reason = NOT_SERVED.get((type(model).__name__, wire))
        if reason is not None:
            if raw_value is not _ABSENT:
                problems.append(f"{where} is sent now: take it out of NOT_SERVED ({reason})")
            continue
        if raw_value is _ABSENT:
            problems.append(f"{where} is absent from the answer")
        if value is None:
            problems.append(f"{where} is None in the typed model")
            continue
        if not _type_ok(value, tp):
            problems.append(f"{where} is {type(value).__name__} {value!r}, the model says {tp}")
            continue
        if typing.get_origin(tp) is list:
            (item,) = typing.get_args(tp)
            raws = raw_value if isinstance(raw_value, list) else []
            for i, v in enumerate(value):
                p = f"{where}[{i}]"
                if v is None or not _type_ok(v, item):
                    problems.append(f"{p} is {v!r}, the model says {item}")
                elif isinstance(v, DaraModel):
                    _walk(v, raws[i] if i < len(raws) else None, p, problems)
        elif isinstance(value, DaraModel):
            _walk(value, raw_value, where, problems)


def assert_filled(model, raw):
    """Fails, listing every problem, unless each documented field of the
    typed model (but those of NOT_SERVED) is present in raw, the answer's
    body as sent, and filled with a value of the model's type."""
    assert isinstance(raw, dict), f"the answer's body is {raw!r}, not a JSON object"
    problems = []
    _walk(model, raw, "body", problems)
    assert not problems, f"{type(model).__name__}: documented fields not filled:\n  " + "\n  ".join(problems)
