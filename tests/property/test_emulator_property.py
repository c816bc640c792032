"""The emulator's parsers: client frames, REST bodies, tokens, handler answers, OData filters.

Any input is a typed command / value or the parser's own documented error (ProtocolError,
ValueError, TokenError, EventRejected), which the shell turns into a close code or a 4xx.
Anything else escaping would end a connection with a traceback or answer a 500.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from multidict import CIMultiDict

from emulator.odata_filter import FilterError, Subject
from emulator.odata_filter import parse as parse_filter
from emulator.reliable import AckIds, SequenceBuffer
from emulator.subprotocol import (
    JoinGroup,
    LeaveGroup,
    Payload,
    Ping,
    ProtocolError,
    SendEvent,
    SendToGroup,
    SequenceAck,
    group_message,
    parse_frame,
)
from emulator.tokens import (
    ClientClaims,
    TokenError,
    issue_client_token,
    verify_client_token,
    verify_reconnection_token,
    verify_rest_token,
)
from emulator.upstream import (
    EventRejected,
    EventResponse,
    read_connect_response,
    read_user_event_response,
)
from harness.strategies import (
    deep_json,
    json_values,
    lone_surrogates,
    mutate,
    nested,
    plain_json_values,
)

KEY = "emulator-property-access-key-0123456789abcdef"
ENDPOINT = "http://127.0.0.1:8081"
HUB = "codestream"

# ---------------------------------------------------------------- client frames


def _frames(values: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    data_types = st.sampled_from(["json", "text", "binary"]) | values
    valid = st.one_of(
        st.builds(lambda g: {"type": "joinGroup", "group": g}, st.text(max_size=20)),
        st.builds(lambda g: {"type": "leaveGroup", "group": g, "ackId": 1}, st.text(max_size=20)),
        st.builds(
            lambda g, d, t, a: {
                "type": "sendToGroup",
                "group": g,
                "data": d,
                "dataType": t,
                "ackId": a,
                "noEcho": True,
            },
            st.text(max_size=20),
            values,
            data_types,
            st.integers(0, 2**64),
        ),
        st.builds(
            lambda e, d, t: {"type": "event", "event": e, "data": d, "dataType": t},
            st.text(max_size=20),
            values,
            data_types,
        ),
        st.builds(lambda s: {"type": "sequenceAck", "sequenceId": s}, st.integers(-5, 2**64)),
        st.just({"type": "ping"}),
    )
    keys = ["type", "group", "data", "dataType", "ackId", "event", "sequenceId", "noEcho"]
    as_objects = valid | valid.flatmap(lambda f: mutate(f, keys, values))
    return st.one_of(
        st.text(max_size=200),
        values.map(json.dumps),
        as_objects.map(json.dumps),  # ensure_ascii: non-ASCII as \\u escapes
        as_objects.map(lambda f: json.dumps(f, ensure_ascii=False)),
    )


COMMANDS = (JoinGroup, LeaveGroup, SendToGroup, SendEvent, SequenceAck, Ping)


def _check_frame(text: str, reliable: bool) -> None:
    try:
        command = parse_frame(text)
    except ProtocolError as exc:
        command = exc
    if isinstance(command, ProtocolError):
        assert str(command)  # the reason the client is told
        return
    assert isinstance(command, COMMANDS)
    if isinstance(command, SendToGroup | SendEvent):
        # whatever was accepted can be delivered: a frame to the group's members
        json.dumps(group_message("g", None, command.payload)).encode()
        command.payload.json_data()


@given(_frames(plain_json_values), st.booleans())
@example('{"type": "sendToGroup", "group": "g", "dataType": "binary", "data": "@@"}', False)
@example('{"type": "event", "event": "e", "dataType": "x"}', True)
@example('{"type": "sequenceAck", "sequenceId": true}', True)
@example('{"type": "joinGroup", "group": "' + "g" * 1025 + '"}', True)
@example("[1, 2]", True)
@example("NaN", True)
def test_any_client_frame_is_a_command_or_a_protocol_error(text: str, reliable: bool) -> None:
    _check_frame(text, reliable)


@given(deep_json)
def test_deeply_nested_frames_are_protocol_errors(text: str) -> None:
    _check_frame(text, True)


@given(lone_surrogates, st.sampled_from(["json", "text"]))
@example("\ud800", "text")
def test_lone_surrogates_in_frames_are_delivered_or_refused(data: str, data_type: str) -> None:
    frame = {"type": "sendToGroup", "group": "g", "dataType": data_type, "data": data}
    _check_frame(json.dumps(frame), False)


@given(_frames(json_values))
def test_frames_with_any_json_never_raise_anything_else(text: str) -> None:
    """Lone surrogates included: JavaScript's JSON.stringify writes them as \\ud800 escapes."""
    _check_frame(text, True)


# ---------------------------------------------------------------- REST bodies

content_types = st.sampled_from(
    [
        "application/json",
        "text/plain",
        "application/octet-stream",
        "text/plain; charset=utf-8",
        "application/xml",
        "",
        "APPLICATION/JSON",
    ]
) | st.text(max_size=30)
rest_bodies = st.binary(max_size=200) | plain_json_values.map(lambda v: json.dumps(v).encode())


@given(content_types, rest_bodies)
def test_rest_bodies_are_payloads_or_value_errors(content_type: str, body: bytes) -> None:
    try:
        payload = Payload.from_content_type(content_type, body)
    except ValueError:  # -> 400 BadRequest
        return
    payload.json_data()


@given(deep_json)
def test_deeply_nested_rest_bodies_are_value_errors(text: str) -> None:
    try:
        Payload.from_content_type("application/json", text.encode())
    except ValueError:
        return


# ---------------------------------------------------------------- tokens


def _sign(claims: Any, key: str = KEY, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


now = int(time.time())
aud = ENDPOINT + "/client/hubs/" + HUB
claim_values = json_values | st.just(aud) | st.just(now + 600) | st.just(now - 600)
claim_sets = st.fixed_dictionaries(
    {},
    optional={
        "aud": st.just(aud) | json_values | st.lists(st.just(aud) | st.text(max_size=9)),
        **{k: claim_values for k in ("exp", "iat", "nbf", "sub", "role", "webpubsub.group", "x")},
    },
)
tokens = st.one_of(
    st.text(max_size=200),
    claim_sets.map(_sign),
    claim_sets.map(lambda c: _sign(c, "wrong-key-of-at-least-32-bytes-long")),
    claim_sets.map(lambda c: _sign(c, KEY * 2, "HS512")),
    st.builds(
        lambda a, b, c: f"{a}.{b}.{c}",
        st.text(max_size=30),
        st.text(max_size=30),
        st.text(max_size=30),
    ),
)


@given(tokens)
@example(jwt.encode({"aud": aud, "exp": now + 60}, key=None, algorithm="none"))  # type: ignore[arg-type]
@example(_sign({"aud": aud, "exp": now - 3600}))
@example(_sign({"aud": aud}))  # no exp
@example(_sign({"aud": aud, "exp": "soon"}))
@example(_sign({"aud": ENDPOINT + "/client/hubs/other", "exp": now + 60}))
@example(_sign({"aud": aud, "exp": now + 60, "role": {"a": 1}, "sub": 5}))
def test_client_tokens_verify_or_raise_token_error(token: str) -> None:
    try:
        claims: ClientClaims | TokenError = verify_client_token(token, KEY, HUB)
    except TokenError as exc:
        claims = exc
    if isinstance(claims, TokenError):
        assert len(token) < 20 or token not in str(claims)  # never echoes the token
        return
    assert all(isinstance(r, str) for r in claims.roles)
    assert all(isinstance(g, str) for g in claims.groups)
    assert claims.user_id is None or isinstance(claims.user_id, str)
    assert claims.raw["exp"] > now - 10  # only live tokens pass


@given(st.integers() | st.floats() | st.booleans())
@example(1795631908)
def test_tokens_with_an_audience_of_another_type_are_refused(value: Any) -> None:
    with contextlib.suppress(TokenError):
        verify_client_token(_sign({"aud": value, "exp": now + 600}), KEY, HUB)


@given(tokens, st.text(max_size=40))
def test_rest_and_reconnection_tokens_verify_or_raise_token_error(token: str, path: str) -> None:
    for verify in (
        lambda: verify_rest_token(token, KEY, path),
        lambda: verify_reconnection_token(token, KEY, HUB, "conn-1"),
    ):
        with contextlib.suppress(TokenError):
            verify()


@given(st.text(max_size=20), st.lists(st.text(max_size=20), max_size=3), st.integers(1, 60))
def test_issued_tokens_verify_with_their_claims(user: str, groups: list[str], minutes: int) -> None:
    token = issue_client_token(
        KEY, ENDPOINT, HUB, user_id=user, groups=groups, minutes_to_expire=minutes
    )
    claims = verify_client_token(token, KEY, HUB)
    assert claims.user_id == (user or None)
    assert claims.groups == tuple(groups)
    assert claims.raw["exp"] - claims.raw["iat"] == 60 * minutes
    with pytest.raises(TokenError):
        verify_client_token(token, KEY + "x", HUB)
    with pytest.raises(TokenError):
        verify_client_token(token, KEY, "otherhub")


# ---------------------------------------------------------------- handler answers, reliable


handler_bodies = st.binary(max_size=100) | plain_json_values.map(lambda v: json.dumps(v).encode())
handler_headers = st.dictionaries(
    st.sampled_from(["Content-Type", "ce-connectionState"]), content_types
).map(CIMultiDict)


@given(st.integers(100, 599), handler_headers, handler_bodies)
def test_handler_answers_are_results_or_event_rejected(
    status: int, headers: CIMultiDict[str], body: bytes
) -> None:
    response = EventResponse(status, headers, body)
    with contextlib.suppress(EventRejected):
        read_user_event_response(response)
    try:
        read_connect_response(response)
    except EventRejected as exc:
        rejected = exc
    else:
        return
    assert 400 <= rejected.status <= 599  # what the client's handshake gets


@given(st.lists(st.one_of(st.integers(-(2**64), 2**64), st.none()), max_size=60))
def test_sequence_buffer_and_ack_ids_take_any_ack(acks: list[int | None]) -> None:
    buffer = SequenceBuffer(max_frames=1000, max_bytes=10**6)
    ack_ids = AckIds(capacity=8)
    for ack in acks:
        if ack is None:
            buffer.number('{"type":"message"}')
        else:
            buffer.ack(ack)
            ack_ids.first_time(ack)
        ids = [json.loads(f)["sequenceId"] for f in buffer.unacked()]
        assert ids == sorted(ids)
        assert len(ack_ids._seen) <= 8


def test_nested_helper_is_valid_json() -> None:
    assert json.loads(nested(10)) == [[[[[[[[[[]]]]]]]]]]


# --- OData filter -------------------------------------------------------------------------
# A well-typed filter is built as (text, meaning) pairs: the text goes through the parser and
# must mean exactly what the pair says, for any connection. Operators are rendered without
# extra parentheses where precedence allows, so precedence itself is under test.
_names = st.sampled_from(["u1", "U1", "o'k", "", "x y"])
_group_names = st.sampled_from(["g1", "g2", "G1", "it's"])
_subjects = st.builds(
    Subject,
    st.sampled_from(["c1", "c2"]),
    st.one_of(st.none(), _names),
    st.frozensets(_group_names, max_size=3),
)
Meaning = Callable[[Subject], bool]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _atoms() -> st.SearchStrategy[tuple[str, Meaning]]:
    return st.one_of(
        _names.map(lambda n: (f"userId eq {_quote(n)}", lambda s, n=n: s.user_id == n)),
        _names.map(lambda n: (f"userId ne {_quote(n)}", lambda s, n=n: s.user_id != n)),
        _group_names.map(lambda g: (f"{_quote(g)} in groups", lambda s, g=g: g in s.groups)),
        st.integers(-1, 4).map(
            lambda k: (
                f"length(userId) gt {k}",
                lambda s, k=k: s.user_id is not None and len(s.user_id) > k,
            )
        ),
        st.integers(0, 3).map(
            lambda k: (f"length(groups) le {k}", lambda s, k=k: len(s.groups) <= k)
        ),
        st.lists(_names, min_size=1, max_size=3).map(
            lambda ns: (
                "userId in (" + ", ".join(map(_quote, ns)) + ")",
                lambda s, ns=ns: s.user_id in ns,
            )
        ),
        st.sampled_from([("true", lambda s: True), ("false", lambda s: False)]),
    )


def _combine(
    children: st.SearchStrategy[tuple[str, Meaning]],
) -> st.SearchStrategy[tuple[str, Meaning]]:
    def both(op: str, a: tuple[str, Meaning], b: tuple[str, Meaning]) -> tuple[str, Meaning]:
        if op == "and":
            return f"({a[0]}) and ({b[0]})", lambda s: a[1](s) and b[1](s)
        return f"{a[0]} or {b[0]}", lambda s: a[1](s) or b[1](s)

    return st.one_of(
        st.builds(both, st.sampled_from(["and", "or"]), children, children),
        children.map(lambda a: (f"not ({a[0]})", lambda s: not a[1](s))),
        children.map(lambda a: (f"({a[0]})", a[1])),
    )


_filters = st.recursive(_atoms(), _combine, max_leaves=12)


@given(_filters, st.lists(_subjects, min_size=1, max_size=4))
@example(("userId eq 'a' or userId eq 'b' and false", lambda s: s.user_id == "a"), [])
def test_a_filter_means_what_it_says(flt: tuple[str, Meaning], subjects: list[Subject]) -> None:
    text, meaning = flt
    parsed = parse_filter(text)
    for subject in subjects:
        assert parsed.matches(subject) is meaning(subject), (text, subject)


@given(
    st.one_of(
        st.text(max_size=120),
        _filters.map(lambda f: f[0][:-1]),
        _filters.map(lambda f: f[0].replace(" ", "", 1)),
    ),
    _subjects,
)
@example("not length(userId) gt 5", Subject("c", None, frozenset()))
@example("substring(userId, 1, -1) eq null", Subject("c", "ab", frozenset()))
def test_any_filter_text_is_a_filter_or_a_filter_error(text: str, subject: Subject) -> None:
    try:
        parsed = parse_filter(text)
    except FilterError as exc:
        refusal = str(exc)
    else:
        assert parsed.matches(subject) in (True, False)
        return
    assert refusal.startswith(("Invalid syntax", "filter is"))
