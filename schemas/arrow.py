"""Arrow schemas and `datasets.Features` derived once from the pydantic record models, and the row codec.

Every shard of a table, and every published config, is written with the schema derived here from the record
type, never inferred from the rows: a shard whose records leave an optional field empty has the same schema
as one whose records fill it. Records are still validated by pydantic on the way in and out.

The mapping (`arrow_type`):
- nested models are structs of their fields; `list[X]`, `tuple[X, ...]` and `set[X]` are lists of X;
- `X | None` is a nullable X; `Literal[...]` of strings (and str enums) are strings;
- `str`, `int`, `float`, `bool` are string, int64, float64, bool;
- datetimes are `timestamp[us, UTC]` (polars and `datasets` filter and sort them as times; a naive datetime is
  taken as UTC, and every engine timestamp is aware);
- `dict[str, X]` with a typed X (scores, counts, MCQ options) is a list of `{key, value}` structs: polars can
  explode and filter it and `datasets` types it, where an Arrow map would not survive either;
- only genuinely free-form values — `Any`, `dict[str, Any]` (a teacher call's sampling params) and unions of
  several non-null types — are JSON text, since no single Arrow type holds them.

The codec (`encode_record` / `decode_row`) rewrites only the paths that need it (dicts and JSON values); the
rest of `model_dump()` goes to Arrow as it is, so writing a shard stays close to `Table.from_pylist`'s cost.

Versions: rows carry the record's `schema_version`; the storage layout has its own version, kept in each
Parquet file's metadata (`LAYOUT_KEY`). A reader refuses a major version it does not know (`VersionError`).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel

from schemas.common import SCHEMA_VERSION

M = TypeVar("M", bound=BaseModel)

#: the version of the typed-column layout (1.x: one JSON `record` column; 2.0: one column per field)
LAYOUT_VERSION = "2.0"
LAYOUT_KEY = b"medsynth.layout"
RECORD_TYPE_KEY = b"medsynth.record_type"

Conv = Callable[[Any], Any]


class VersionError(ValueError):
    """Data written by a newer major version than this reader knows: refused, never guessed at."""

    def __init__(self, kind: str, found: str, supported: str, where: str = ""):
        self.kind, self.found, self.supported = kind, found, supported
        at = f" in {where}" if where else ""
        super().__init__(
            f"{kind} version {found}{at} is not readable by this version of the engine (it reads {kind} "
            f"{supported} and older minor versions of major {supported.split('.')[0]}); upgrade the engine"
        )


def check_version(kind: str, found: str, supported: str, where: str = "") -> None:
    """Raise VersionError when `found`'s major version is not `supported`'s (newer minors read fine)."""
    try:
        major = int(str(found).split(".")[0])
    except ValueError as e:
        raise VersionError(kind, str(found), supported, where) from e
    if major != int(supported.split(".")[0]):
        raise VersionError(kind, str(found), supported, where)


def check_schema_version(found: str, where: str = "") -> None:
    check_version("record schema", found, SCHEMA_VERSION, where)


def _json_enc(v: Any) -> Any:
    return None if v is None else json.dumps(v, ensure_ascii=False, default=str)


def _json_dec(v: Any) -> Any:
    return None if v is None else json.loads(v)


def _each(conv: Conv) -> Conv:
    def each(v: Any) -> Any:
        return None if v is None else [conv(x) for x in v]

    return each


def _plan(annotation: Any) -> tuple[Any, bool, Conv | None, Conv | None]:
    """(Arrow type, nullable, encoder, decoder) of one annotation; None coders: the value passes as it is."""
    import pyarrow as pa

    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is typing.Annotated:
        return _plan(args[0])
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            t, _, enc, dec = _plan(rest[0])
            return t, True, enc, dec
        return pa.string(), True, _json_enc, _json_dec
    if origin is Literal:
        kinds = {type(a) for a in args}
        if kinds <= {str}:
            return pa.string(), False, None, None
        if kinds <= {bool}:
            return pa.bool_(), False, None, None
        if kinds <= {int}:
            return pa.int64(), False, None, None
        return pa.string(), False, _json_enc, _json_dec
    if origin in (list, tuple, set, frozenset):
        item = args[0] if args else Any
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return pa.string(), False, _json_enc, _json_dec  # a fixed-shape tuple: no single item type
        t, _, enc, dec = _plan(item)
        lenc = _each(enc) if enc else None
        # Sets and tuples go to Arrow as lists; pydantic turns them back on the way in.
        if origin is not list and lenc is None:
            lenc = _each(lambda x: x)
        return pa.list_(t), False, lenc, _each(dec) if dec else None
    if origin is dict:
        key, val = args if args else (Any, Any)
        if val is Any or key is not str:
            return pa.string(), False, _json_enc, _json_dec
        t, _, enc, dec = _plan(val)
        kv = pa.list_(pa.struct([pa.field("key", pa.string(), nullable=False), pa.field("value", t)]))

        def denc(v: Any, e: Conv | None = enc) -> Any:
            if v is None:
                return None
            return [{"key": k, "value": e(x) if e else x} for k, x in v.items()]

        def ddec(v: Any, d: Conv | None = dec) -> Any:
            if v is None:
                return None
            return {kv_["key"]: d(kv_["value"]) if d else kv_["value"] for kv_ in v}

        return kv, False, denc, ddec
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return _struct_plan(annotation)
        if issubclass(annotation, Enum):
            t, _, _, _ = _plan(type(next(iter(annotation)).value))
            return t, False, (lambda v: None if v is None else v.value), None
        for py, at in ((bool, pa.bool_()), (int, pa.int64()), (float, pa.float64()), (str, pa.string())):
            if issubclass(annotation, py):
                return at, False, None, None
        if issubclass(annotation, datetime):
            return pa.timestamp("us", tz="UTC"), False, None, None
        if issubclass(annotation, date):
            return pa.date32(), False, None, None
    if annotation is Any:
        return pa.string(), True, _json_enc, _json_dec
    raise TypeError(f"no Arrow mapping for {annotation!r}: add one to schemas/arrow.py")


@cache
def _struct_plan(model: type[BaseModel]) -> tuple[Any, bool, Conv | None, Conv | None]:
    import pyarrow as pa

    fields, encs, decs = _fields(model)
    t = pa.struct(fields)
    if not encs and not decs:
        return t, False, None, None

    def enc(v: Any) -> Any:
        if v is None:
            return None
        for k, e in encs:
            v[k] = e(v[k])
        return v

    def dec(v: Any) -> Any:
        if v is None:
            return None
        for k, d in decs:
            if k in v:  # a row may leave out a field with a default
                v[k] = d(v[k])
        return v

    return t, False, enc if encs else None, dec if decs else None


def _fields(model: type[BaseModel]) -> tuple[list[Any], list[tuple[str, Conv]], list[tuple[str, Conv]]]:
    import pyarrow as pa

    fields, encs, decs = [], [], []
    for name, info in model.model_fields.items():
        t, nullable, enc, dec = _plan(info.annotation)
        fields.append(pa.field(name, t, nullable=nullable or not info.is_required()))
        if enc:
            encs.append((name, enc))
        if dec:
            decs.append((name, dec))
    return fields, encs, decs


@cache
def record_fields(model: type[BaseModel]) -> tuple[Any, ...]:
    """The Arrow fields of a record model's top-level columns, in field order."""
    return tuple(_fields(model)[0])


def arrow_schema(model: type[BaseModel], extra: tuple[Any, ...] = (), lead: tuple[Any, ...] = ()) -> Any:
    """The Arrow schema of a table of `model` records: `lead` columns, the record's fields, then `extra`.

    The schema's metadata names the layout version and the record type, so a reader knows what it holds.
    """
    import pyarrow as pa

    own = {f.name: f for f in record_fields(model)}
    head = [own.get(f.name, f) for f in lead]  # a lead column the record has keeps the record's type
    taken = {f.name for f in head}
    cols = head + [f for f in own.values() if f.name not in taken]
    cols += [f for f in extra if f.name not in own and f.name not in taken]
    return pa.schema(cols, metadata={LAYOUT_KEY: LAYOUT_VERSION, RECORD_TYPE_KEY: model.__name__})


def features(schema: Any) -> Any:
    """The `datasets.Features` of an Arrow schema from `arrow_schema` (nested structs and lists kept)."""
    from datasets.features import Features

    return Features.from_arrow_schema(schema)


def encode_record(record: BaseModel) -> dict[str, Any]:
    """One record as an Arrow row (a dict of its top-level columns)."""
    _, _, enc, _ = _struct_plan(type(record))
    row = record.model_dump()
    return enc(row) if enc else row


def decode_row(model: type[M], row: dict[str, Any], *, strict: bool = False) -> M:
    """A record from an Arrow row: a shard's or a published config's, whose other columns (`item_id`, the flat
    convenience columns) are ignored; `strict`: every column must be a field (pydantic forbids the rest)."""
    _, _, _, dec = _struct_plan(model)
    data = dict(row) if strict else {k: row[k] for k in model.model_fields if k in row}
    return model.model_validate(dec(data) if dec else data)
