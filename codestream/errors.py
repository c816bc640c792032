"""Every error code the Function App can answer with, in one place.

Codes are stable snake_case strings: clients and tests match on them, so a code never changes
meaning. The HTTP status is what a direct HTTP caller sees (negotiate, or an upstream request
that fails authentication). A refused *user event* is answered with HTTP 200 and an
`{"type": "error", ...}` body instead, because Web PubSub drops a client's connection when its
event handler answers a user event with a non-2xx status; 200 makes the service forward the
error to the sender and keeps the connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    # request shape
    BAD_JSON = "bad_json"  # body is not valid UTF-8 JSON
    BAD_SCHEMA = "bad_schema"  # JSON is valid but fields are missing, unknown or of a bad type
    BAD_STREAM_ID = "bad_stream_id"  # streamId does not match the documented format
    TOO_LARGE = "too_large"  # body or field over its size limit
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # negotiate
    OWNER_KEY_MISMATCH = "owner_key_mismatch"  # resume with a wrong owner key
    # upstream (service -> handler) authentication and CloudEvents framing
    UNAUTHENTICATED = "unauthenticated"  # missing/forged ce-signature or bearer token
    BAD_CLOUDEVENT = "bad_cloudevent"  # ce-* headers missing or inconsistent
    WRONG_HUB = "wrong_hub"  # event for a hub this app does not serve
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"  # abuse-protection handshake from another origin
    # connect
    BAD_CLAIMS = "bad_claims"  # token claims are neither a streamer's nor a watcher's
    # user events
    UNKNOWN_EVENT = "unknown_event"
    WRONG_ROLE = "wrong_role"  # e.g. a watcher sending `snapshot`
    OTHER_STREAM = "other_stream"  # streamId of the event is not the connection's stream
    NOT_A_WATCHER = "not_a_watcher"  # snapshot/catchup ticket does not prove `to` a watcher
    RATE_LIMITED = "rate_limited"
    NO_STATE = "no_state"  # event from a connection the connect handler never accepted
    # stream storage (uploads and the join read)
    BAD_DELTA = "bad_delta"  # a change does not apply to the stored document's length
    NO_STREAM = "no_stream"  # nothing stored for this stream (yet)
    OUT_OF_ORDER = "out_of_order"  # not the next version of the stored head; body has "head"
    CONFLICT = "conflict"  # lost the race for the manifest to other uploads, more than once
    HISTORY_FULL = "history_full"  # the stream's manifest has storage.manifestEntries entries
    STORAGE_UNAVAILABLE = "storage_unavailable"  # storage failed or is unreachable; retry
    # replay (recordings, markers, deletion, embedding)
    DELETED = "deleted"  # the owner deleted the recording: 410 to reads, 409 to uploads
    BAD_BLOB_NAME = "bad_blob_name"  # not a keyframe or segment name
    NO_BLOB = "no_blob"  # the stream's manifest names no such keyframe or segment
    BAD_QUERY = "bad_query"  # a query parameter is missing or malformed
    UNKNOWN_URL = "unknown_url"  # oEmbed: not a watch or embed link of this site
    FORMAT_NOT_SUPPORTED = "format_not_supported"  # oEmbed: only format=json
    # service
    SERVICE_ERROR = "service_error"  # Web PubSub refused or failed a call


STATUS: dict[Code, int] = {
    Code.BAD_JSON: 400,
    Code.BAD_SCHEMA: 400,
    Code.BAD_STREAM_ID: 400,
    Code.TOO_LARGE: 413,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.OWNER_KEY_MISMATCH: 403,
    Code.UNAUTHENTICATED: 401,
    Code.BAD_CLOUDEVENT: 400,
    Code.WRONG_HUB: 400,
    Code.ORIGIN_NOT_ALLOWED: 400,
    Code.BAD_CLAIMS: 401,
    Code.UNKNOWN_EVENT: 400,
    Code.WRONG_ROLE: 403,
    Code.OTHER_STREAM: 403,
    Code.NOT_A_WATCHER: 403,
    Code.RATE_LIMITED: 429,
    Code.NO_STATE: 403,
    Code.BAD_DELTA: 400,
    Code.NO_STREAM: 404,
    Code.OUT_OF_ORDER: 409,
    Code.CONFLICT: 409,
    Code.HISTORY_FULL: 409,
    Code.STORAGE_UNAVAILABLE: 503,
    Code.DELETED: 410,
    Code.BAD_BLOB_NAME: 400,
    Code.NO_BLOB: 404,
    Code.BAD_QUERY: 400,
    Code.UNKNOWN_URL: 404,
    Code.FORMAT_NOT_SUPPORTED: 501,
    Code.SERVICE_ERROR: 502,
}


@dataclass(frozen=True)
class Refusal:
    """Why a request or event was not acted upon; carries no secrets, safe to send back."""

    code: Code
    message: str
    http_status: int | None = None  # when this refusal's status is not its code's usual one

    @property
    def status(self) -> int:
        return self.http_status or STATUS[self.code]

    def error_body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": str(self.code), "message": self.message}}

    def event_reply(self) -> dict[str, str]:
        return {"type": "error", "code": str(self.code), "message": self.message}
