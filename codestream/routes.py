"""The Function App's HTTP routes: one place, read by function_app.py, the dev host and infra.

Routes are relative to the Functions route prefix (`api`, the default, kept in host.json).
"""

from __future__ import annotations

ROUTE_PREFIX = "api"
NEGOTIATE = "negotiate"
EVENTS = "webpubsub/events"
HEALTH = "health"
STREAM = "streams/{streamId}"  # GET: the join state
KEYFRAMES = "streams/{streamId}/keyframes"  # POST: the streamer uploads a keyframe
SEGMENTS = "streams/{streamId}/segments"  # POST: ... a segment
STREAM_ID_PARAM = "streamId"

EVENT_HANDLER_PATH = f"/{ROUTE_PREFIX}/{EVENTS}"
