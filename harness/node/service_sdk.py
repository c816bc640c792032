"""The server side of the Node tests, done with Microsoft's Python service SDK.

Wherever a real app server would call azure-messaging-webpubsubservice (mint a client access
URL as negotiate does, push a message through the REST data plane), the Node tests ask this
process, so both ends of every Node scenario are Microsoft SDKs with the emulator between them.

One process serves a whole test file (support.mjs starts it): one JSON request per stdin line,
`{"command": ..., "args": {...}}`, one JSON reply per stdout line, `{"result": ...}` or
`{"error": "..."}`, in order. It exits when stdin closes. The emulator's connection string
comes from WPS_CONNECTION_STRING.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from azure.messaging.webpubsubservice import WebPubSubServiceClient


class ServiceSide:
    def __init__(self, connection_string: str) -> None:
        self.connection_string = connection_string
        self.clients: dict[str, WebPubSubServiceClient] = {}

    def _client(self, hub: str) -> WebPubSubServiceClient:
        if hub not in self.clients:
            self.clients[hub] = WebPubSubServiceClient.from_connection_string(
                self.connection_string, hub=hub
            )
        return self.clients[hub]

    def client_url(
        self,
        hub: str,
        user: str | None = None,
        roles: list[str] | None = None,
        groups: list[str] | None = None,
    ) -> str:
        token = self._client(hub).get_client_access_token(
            user_id=user, roles=roles or [], groups=groups or [], minutes_to_expire=10
        )
        return str(token["url"])

    def send_to_user(self, hub: str, user: str, data: Any) -> None:
        self._client(hub).send_to_user(user, data, content_type="application/json")

    def send_to_group(self, hub: str, group: str, data: Any) -> None:
        self._client(hub).send_to_group(group, data, content_type="application/json")

    def commands(self) -> dict[str, Callable[..., Any]]:
        return {
            "client-url": self.client_url,
            "send-to-user": self.send_to_user,
            "send-to-group": self.send_to_group,
        }


def serve(service: ServiceSide, requests: TextIO, replies: TextIO) -> None:
    commands = service.commands()
    for line in requests:
        try:
            request = json.loads(line)
            reply = {"result": commands[request["command"]](**request.get("args", {}))}
        except Exception as exc:  # any failure goes back to the test that asked
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve(ServiceSide(os.environ["WPS_CONNECTION_STRING"]), sys.stdin, sys.stdout)
