"""The Function App's HTTP routes: one place, read by function_app.py, the dev host and infra.

Routes are relative to the Functions route prefix (`api`, the default, kept in host.json).
"""

from __future__ import annotations

ROUTE_PREFIX = "api"
NEGOTIATE = "negotiate"
EVENTS = "webpubsub/events"
HEALTH = "health"
STREAM = "streams/{streamId}"  # GET: the join state; DELETE: the owner deletes the recording
KEYFRAMES = "streams/{streamId}/keyframes"  # POST: the streamer uploads a keyframe
SEGMENTS = "streams/{streamId}/segments"  # POST: ... a segment
RECORDING = "streams/{streamId}/recording"  # GET: the recording's index
DOWNLOAD = "streams/{streamId}/recording.jsonl"  # GET: the recording as JSON Lines
BLOB = "streams/{streamId}/blobs/{*name}"  # GET: a keyframe or segment (k/..., s/...)
OEMBED = "oembed"  # GET ?url=<watch or embed link>: oEmbed
STREAM_ID_PARAM = "streamId"
BLOB_NAME_PARAM = "name"

EVENT_HANDLER_PATH = f"/{ROUTE_PREFIX}/{EVENTS}"
