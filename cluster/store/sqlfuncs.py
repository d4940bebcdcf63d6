"""SQL functions that SQLite and PostgreSQL spell differently, as SQLAlchemy constructs.

- `floor_(x)`: SQLite has `floor()` only when built with its math functions, so it is
  written with CAST (which truncates toward zero) and a correction for negative numbers;
- `least(...)` / `greatest(...)`: SQLite's multi-argument `min()` / `max()` are scalar.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class floor_(FunctionElement):
    type = sa.Double()
    inherit_cache = True
    name = "floor"


@compiles(floor_)
def _floor_default(element, compiler, **kw):
    return f"floor({compiler.process(element.clauses, **kw)})"


@compiles(floor_, "sqlite")
def _floor_sqlite(element, compiler, **kw):
    x = compiler.process(element.clauses, **kw)
    return f"(CAST(({x}) AS INTEGER) - (({x}) < CAST(({x}) AS INTEGER)))"


class least(FunctionElement):
    type = sa.Double()
    inherit_cache = True
    name = "least"


class greatest(FunctionElement):
    type = sa.Double()
    inherit_cache = True
    name = "greatest"


@compiles(least)
def _least_default(element, compiler, **kw):
    return f"least({compiler.process(element.clauses, **kw)})"


@compiles(least, "sqlite")
def _least_sqlite(element, compiler, **kw):
    return f"min({compiler.process(element.clauses, **kw)})"


@compiles(greatest)
def _greatest_default(element, compiler, **kw):
    return f"greatest({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element, compiler, **kw):
    return f"max({compiler.process(element.clauses, **kw)})"
