"""JSON request bodies are checked at the edge, before anything decodes them: the media type must be JSON, and
nesting is bounded, since the decoder and every validator after it recurse once per level."""

import re
from array import array
from itertools import accumulate
from typing import Any

from litestar import Request
from litestar.exceptions import ClientException, HTTPException

MAX_DEPTH = 32
# A JSON string, or an unterminated one up to the end: possessive, so no input makes the scan backtrack.
_STRING = re.compile(rb'"(?:[^"\\]|\\[\s\S])*+(?:"|\\?\Z)')
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 once read as signed bytes


def nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit``: a few passes in C, no recursion."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= limit:
        return False
    return max(accumulate(array("b", brackets.translate(_STEPS)))) > limit


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or ``application/*+json``; a charset, if given, must be UTF-8 (RFC 8259)."""
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    if media_type != "application/json" and not (media_type.startswith("application/")
                                                 and media_type.endswith("+json")):
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


class JsonCheckedRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        content_type = self.headers.get("content-type", "")
        if not is_json_media_type(content_type):
            raise HTTPException(status_code=415, detail=f"the body must be application/json (UTF-8), not "
                                                        f"{content_type[:100] or 'without a content type'}")
        if nested_deeper_than(await self.body(), MAX_DEPTH):
            raise ClientException(detail=f"the JSON body is nested deeper than {MAX_DEPTH} levels")
        return await super().json()
