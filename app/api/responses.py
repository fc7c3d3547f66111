"""What an operation can answer besides its success, for the OpenAPI document: each status with why it happens.

Every error is problem details (app/api/problems.py); the verification link's page answers its errors as HTML.
400 is on every operation, since a NUL in any path or query is refused at the edge (app/api/nul.py)."""

from collections.abc import Mapping

from litestar import MediaType
from litestar.openapi import ResponseSpec

from app.api.problems import PROBLEM_JSON
from app.api.schemas import ProblemOut

WHY = {
    400: "Malformed: a NUL in the path or query, or a body that is not JSON or nests deeper than 32 levels",
    401: "No bearer token, or one that is invalid, expired or revoked (WWW-Authenticate: Bearer)",
    403: "The token's user lacks the role this needs",
    404: "Nothing by that name or id",
    409: "It conflicts with the current state",
    410: "Gone for good",
    413: "The body is larger than api.max_body_bytes",
    415: "The body is not application/json (UTF-8)",
    422: "Invalid fields: errors names each",
    429: "Too many requests from this client address: Retry-After says when to try again",
    503: "A server it needs (database, Redis, RabbitMQ) is unavailable: Retry-After says when to try again",
}
OPERATOR = (401, 403)  # the operator endpoints: a bearer token, and the role
JSON_BODY = (413, 415, 422)  # a JSON body, besides a malformed one (400)


def problems(*statuses: int, why: Mapping[int, str] | None = None) -> dict[int, ResponseSpec]:
    """Problem details for 400 and each of ``statuses``; ``why`` says it better than :data:`WHY` for this one."""
    return {status: ResponseSpec(ProblemOut, description=(why or {}).get(status, WHY[status]),
                                 media_type=PROBLEM_JSON, generate_examples=False)
            for status in sorted({400, *statuses})}


def pages(*statuses: int, why: Mapping[int, str] | None = None) -> dict[int, ResponseSpec]:
    """The same for an HTML page: a small page saying what went wrong."""
    return {status: ResponseSpec(str, description=(why or {}).get(status, WHY[status]), media_type=MediaType.HTML,
                                 generate_examples=False)
            for status in sorted({400, *statuses})}
