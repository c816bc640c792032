"""The Function App in exactly its Azure configuration, on this machine.

No connection string: `WebPubSubEndpoint` (https) and azure-identity's DefaultAzureCredential,
which, with AZURE_CLIENT_ID/SECRET/TENANT_ID and AZURE_AUTHORITY_HOST set, is its
EnvironmentCredential -> ClientSecretCredential, asking a local OpenID provider (oidc-provider,
shaped like Entra ID) over TLS with a local CA. The emulator runs with local auth disabled
(REST takes only that authority's tokens for https://webpubsub.azure.com, and only from the
app's principal, as a role assignment would allow) and gets a token for the hub's
`auth.managedIdentity.resource` with its own identity for every event, which
codestream/upstream_auth.py checks for signature, issuer, audience, expiry and `oid`.
What still runs only in Azure: the managed identity itself (IMDS / the Functions identity
endpoint behind ManagedIdentityCredential), Entra's real keys and issuers, and RBAC.
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from codestream import config
from codestream.routes import EVENT_HANDLER_PATH
from emulator.config import IDENTITY_SECRET_ENV
from harness.authority import LocalCA, Principal, RunningAuthority, local_ca, start_authority
from harness.devhost import RunningDevHost, start_devhost
from harness.emulator import HUB, RunningEmulator, start_emulator
from harness.processes import free_port

pytestmark = pytest.mark.integration
WAIT = 15.0
RELIABLE = "json.reliable.webpubsub.azure.v1"
WPS_AUDIENCE = "https://webpubsub.azure.com"


@dataclass(frozen=True)
class AzureLike:
    ca: LocalCA
    authority: RunningAuthority
    app: Principal  # the Function App's identity (AZURE_CLIENT_ID)
    wps: Principal  # Web PubSub's managed identity
    upstream_audience: str
    emulator: RunningEmulator
    devhost: RunningDevHost

    def credential(self, who: Principal) -> ClientSecretCredential:
        """A sync azure-identity credential (MSAL underneath) for `who`, trusting the CA."""
        return ClientSecretCredential(
            self.authority.tenant_id,
            who.client_id,
            who.secret,
            authority=self.authority.host,
            disable_instance_discovery=True,  # MSAL would ask login.microsoftonline.com
            connection_verify=str(self.ca.ca_file),
        )


@pytest.fixture(scope="module")
def azure() -> Iterator[AzureLike]:
    tenant = str(uuid.uuid4())
    app, wps = Principal("function-app"), Principal("web-pubsub")
    upstream_audience = f"api://{uuid.uuid4()}"  # as the hub's auth.managedIdentity.resource
    with (
        local_ca() as ca,
        start_authority(ca, tenant, [app, wps], [WPS_AUDIENCE, upstream_audience]) as authority,
    ):
        trust = ca.trust_env()
        app_env = {
            # exactly the Azure app settings (infra/README.md), no connection string
            config.CONNECTION_STRING: "",
            config.UPSTREAM_AUDIENCE: upstream_audience,
            config.UPSTREAM_TENANT_ID: tenant,
            config.UPSTREAM_PRINCIPAL_ID: wps.object_id,
            config.UPSTREAM_AUTHORITY_HOST: authority.host,
            # azure-identity's own variables: DefaultAzureCredential -> EnvironmentCredential
            "AZURE_TENANT_ID": tenant,
            "AZURE_CLIENT_ID": app.client_id,
            "AZURE_CLIENT_SECRET": app.secret,
            "AZURE_AUTHORITY_HOST": authority.host,
            **trust,
        }
        # the endpoint is only known once the emulator runs, and the emulator needs the
        # handler's URL: the dev host starts first (it reaches the service only on requests)
        emulator_port = free_port()
        app_env[config.ENDPOINT] = f"https://127.0.0.1:{emulator_port}"
        with start_devhost(env=app_env) as devhost:
            hubs = {
                "hubs": {
                    HUB: {
                        "eventHandlers": [
                            {
                                "urlTemplate": devhost.url + EVENT_HANDLER_PATH,
                                "userEventPattern": "*",
                                "systemEvents": ["connect", "connected", "disconnected"],
                                "auth": {
                                    "type": "ManagedIdentity",
                                    "managedIdentity": {"resource": upstream_audience},
                                },
                            }
                        ]
                    }
                }
            }
            args = [
                *("--entra-authority", authority.host, "--entra-tenant-id", tenant),
                *("--entra-allowed-principal", app.object_id),
                *("--identity-client-id", wps.client_id, "--disable-local-auth"),
            ]
            with start_emulator(
                hubs,
                extra_args=args,
                env={IDENTITY_SECRET_ENV: wps.secret, **trust},
                tls=ca,
                port=emulator_port,
            ) as emulator:
                yield AzureLike(ca, authority, app, wps, upstream_audience, emulator, devhost)


@pytest.fixture
async def http(azure: AzureLike) -> AsyncIterator[aiohttp.ClientSession]:
    context = ssl.create_default_context(cafile=str(azure.ca.ca_file))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        yield session


async def _negotiate(http: aiohttp.ClientSession, azure: AzureLike, body: dict[str, str]) -> Any:
    async with http.post(f"{azure.devhost.url}/api/negotiate", json=body) as resp:
        answer = await resp.json()
        assert resp.status == 200, answer
        return answer


async def _json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=WAIT)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return dict(json.loads(msg.data))


async def _until(ws: aiohttp.ClientWebSocketResponse, **match: Any) -> dict[str, Any]:
    while True:
        frame = await _json(ws)
        data = frame.get("data")
        if isinstance(data, dict) and all(data.get(k) == v for k, v in match.items()):
            return frame


async def test_a_stream_runs_end_to_end_on_entra_tokens_only(
    http: aiohttp.ClientSession, azure: AzureLike
) -> None:
    # negotiate: the app's DefaultAzureCredential token -> emulator REST :generateToken
    streamer_answer = await _negotiate(http, azure, {})
    assert streamer_answer["url"].startswith(f"wss://127.0.0.1:{azure.emulator.port}/client/")
    sid = streamer_answer["streamId"]
    streamer = await http.ws_connect(streamer_answer["url"], protocols=(RELIABLE,))
    # connect: the emulator's managed-identity token -> upstream_auth accepted it
    assert (await _json(streamer))["event"] == "connected"

    async def count(ack_id: int) -> int:
        # the streamer asks; the app lists the group over REST with its own token
        await streamer.send_json(
            {"type": "event", "event": "watchers", "dataType": "json",
             "data": {"streamId": sid}, "ackId": ack_id}
        )  # fmt: skip
        reply = await _until(streamer, type="watchers")
        assert reply["from"] == "server"
        return int(reply["data"]["count"])

    assert await count(10) == 0
    watcher_answer = await _negotiate(http, azure, {"streamId": sid})
    watcher = await http.ws_connect(watcher_answer["url"], protocols=(RELIABLE,))
    assert (await _json(watcher))["event"] == "connected"
    assert await count(11) == 1

    await streamer.send_json(
        {
            "type": "event",
            "event": "control",
            "dataType": "json",
            "data": {"streamId": sid, "title": "on entra"},
            "ackId": 1,
        }
    )
    control = await _until(watcher, type="control")
    assert (control["from"], control["group"], control["data"]["title"]) == (
        "group",
        sid,
        "on entra",
    )
    await watcher.close()
    await streamer.close()


def test_rest_takes_only_the_apps_entra_tokens(azure: AzureLike) -> None:
    verify = str(azure.ca.ca_file)
    endpoint = azure.emulator.endpoint

    def client(**kwargs: Any) -> WebPubSubServiceClient:
        return WebPubSubServiceClient(endpoint, HUB, connection_verify=verify, **kwargs)

    # the app's principal: allowed (a missing group is a plain 404 -> False)
    assert client(credential=azure.credential(azure.app)).group_exists("nobody-here") is False
    # another principal of the tenant, no role: 403
    with pytest.raises(HttpResponseError) as err:
        client(credential=azure.credential(azure.wps)).group_exists("g")
    assert err.value.status_code == 403
    # the app's token for another audience: 401
    other = client(
        credential=azure.credential(azure.app),
        credential_scopes=[f"{azure.upstream_audience}/.default"],
    )
    with pytest.raises(HttpResponseError) as err:
        other.group_exists("g")
    assert err.value.status_code == 401
    # local auth is disabled: the access key signs nothing the emulator accepts
    keyed = WebPubSubServiceClient.from_connection_string(
        azure.emulator.connection_string, hub=HUB, connection_verify=verify
    )
    with pytest.raises(HttpResponseError) as err:
        keyed.send_to_all({"n": 1})
    assert err.value.status_code == 401
    message = err.value.response.json()["error"]["message"]
    assert message == "local auth is disabled: use Entra ID"


def _connect_event(connection_id: str, origin: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "WebHook-Request-Origin": origin,
        "ce-specversion": "1.0",
        "ce-type": "azure.webpubsub.sys.connect",
        "ce-source": f"/hubs/{HUB}/client/{connection_id}",
        "ce-id": uuid.uuid4().hex,
        "ce-time": "2026-01-01T00:00:00Z",
        "ce-hub": HUB,
        "ce-connectionId": connection_id,
        "ce-eventName": "connect",
        "ce-awpsversion": "1.0",
    }


@pytest.mark.parametrize(
    ("who", "audience", "authentic"),
    [
        ("wps", "upstream", True),  # Web PubSub's identity, for the handler: accepted
        ("app", "upstream", False),  # right audience, wrong identity: the oid pin refuses it
        ("wps", "webpubsub", False),  # right identity, another audience
        (None, None, False),  # no token at all
    ],
)
async def test_the_event_handler_checks_issuer_audience_and_oid(
    http: aiohttp.ClientSession,
    azure: AzureLike,
    who: str | None,
    audience: str | None,
    authentic: bool,
) -> None:
    headers = _connect_event(str(uuid.uuid4()), f"127.0.0.1:{azure.emulator.port}")
    if who is not None:
        principal = azure.wps if who == "wps" else azure.app
        resource = azure.upstream_audience if audience == "upstream" else WPS_AUDIENCE
        token = azure.credential(principal).get_token(f"{resource}/.default").token
        headers["Authorization"] = f"Bearer {token}"
    body = {"claims": {}, "query": {}, "headers": {}, "subprotocols": [], "clientCertificates": []}
    async with http.post(azure.devhost.events_url, json=body, headers=headers) as resp:
        answer = await resp.json()
    if authentic:
        # past authentication: the connect handler judged the (empty) claims instead
        assert answer["error"]["code"] == "bad_claims", answer
    else:
        assert resp.status == 401
        assert answer["error"]["code"] == "unauthenticated"
