"""The paging query parameters, bounded at the edge: no integer the client picks reaches a database or a slice
unchecked (SQLite and PostgreSQL take 64 bits at most, and offset + limit must fit too)."""

from typing import Annotated

from litestar.params import QueryParameter

MAX_OFFSET = 1_000_000_000

Offset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description=f"Items to skip, at most {MAX_OFFSET:,}")]
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Items per page, 1 to 500")]
