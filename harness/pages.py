"""Page objects for the two pages: what a person sees and does, plus the read-only
`window.codestream` facts each page exposes for tests (no secrets in it).

Waits go through Playwright's `expect` or `wait_for_function` (function form: the pages' CSP
forbids eval, which string expressions would need), each bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from playwright.sync_api import BrowserContext, Page, expect

TIMEOUT_MS = 20_000


@dataclass
class Problems:
    """Console errors, page errors and CSP violations a page reported: a test asserts none."""

    items: list[str] = field(default_factory=list)

    def watch(self, page: Page, name: str, allow: tuple[str, ...] = ()) -> None:
        def on_console(msg) -> None:
            text = msg.text
            # a stream with nothing stored yet answers its join state 404: expected, harmless
            nothing_stored = "/api/streams/" in msg.location.get("url", "") and "404" in text
            if msg.type == "error" and not nothing_stored and not any(a in text for a in allow):
                self.items.append(f"{name} console: {text}")
            if "Content Security Policy" in text or "Content-Security-Policy" in text:
                self.items.append(f"{name} CSP: {text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.items.append(f"{name} pageerror: {exc}"))


class BasePage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.status = page.locator("#status")

    def expect_status(self, state: str, timeout: int = TIMEOUT_MS) -> None:
        expect(self.status).to_have_attribute("data-state", state, timeout=timeout)

    def doc(self) -> str:
        return self.page.evaluate("() => window.codestream.doc")

    def state(self) -> dict:
        return self.page.evaluate("() => window.codestream.state")

    def wait_doc(self, expected: str, timeout: int = TIMEOUT_MS) -> None:
        try:
            self.page.wait_for_function(
                "exp => window.codestream && window.codestream.doc === exp",
                arg=expected,
                timeout=timeout,
                polling=100,
            )
        except Exception as exc:
            got = self.doc()
            raise AssertionError(
                f"document did not converge: len {len(got)} vs {len(expected)}; "
                f"state {self.state()}; tail {got[-80:]!r} vs {expected[-80:]!r}"
            ) from exc


class StreamerPage(BasePage):
    def open(self, base_url: str) -> StreamerPage:
        self.page.goto(base_url + "/")
        self.expect_status("live")
        expect(self.page.locator("#share")).not_to_have_value("", timeout=TIMEOUT_MS)
        return self

    @property
    def share_link(self) -> str:
        return self.page.input_value("#share")

    def focus_editor(self) -> None:
        self.page.locator(".cm-content").click()

    def paste(self, text: str) -> None:
        """A real paste event (what Ctrl+V delivers), handled by the editor's own paste code."""
        self.page.evaluate(
            """text => {
                const dt = new DataTransfer();
                dt.setData("text/plain", text);
                const init = {clipboardData: dt, bubbles: true, cancelable: true};
                window.codestream.view.contentDOM.dispatchEvent(new ClipboardEvent("paste", init));
            }""",
            text,
        )

    def wait_sent(self, timeout: int = TIMEOUT_MS) -> None:
        """Every delta acknowledged by the service (nothing queued)."""
        self.page.wait_for_function(
            "() => window.codestream.state.queued === 0 && window.codestream.state.connected",
            timeout=timeout,
        )

    def wait_stored(self, timeout: int = TIMEOUT_MS) -> None:
        """Storage holds the page's latest acknowledged version (nothing left to upload)."""
        try:
            self.page.wait_for_function(
                """() => {
                    const s = window.codestream.state;
                    return s.storage === "saved" && s.stored !== null && s.stored.epoch === s.epoch
                        && s.stored.v === s.finalV && s.queued === 0;
                }""",
                timeout=timeout,
                polling=100,
            )
        except Exception as exc:
            raise AssertionError(f"not stored: {self.state()}") from exc

    def resume_code(self) -> str:
        """Shows the resume code (with its warning), reads it and hides it again."""
        page = self.page
        page.get_by_role("button", name="Resume on another device").click()
        expect(page.locator("#resume-code-warning")).to_be_visible()
        field = page.get_by_role("textbox", name="Your resume code")
        expect(field).to_be_focused()
        code = field.input_value()
        page.get_by_role("button", name="Done").click()
        expect(page.locator("#resume-code-panel")).to_be_hidden()
        hidden = page.locator("#resume-code").input_value()
        assert hidden == "", "the code is cleared from the page once hidden"
        expect(page.get_by_role("button", name="Resume on another device")).to_be_focused()
        return code

    def resume(self, code: str) -> None:
        """Types a resume code into "Resume a stream" and submits it with Enter."""
        page = self.page
        if page.locator("#resume-form").is_hidden():
            page.get_by_role("button", name="Resume a stream").click()
        field = page.get_by_role("textbox", name="Resume code from your other device")
        expect(field).to_be_focused()
        field.fill(code)
        field.press("Enter")


class WatcherPage(BasePage):
    def open(self, link: str, expect_state: str = "live") -> WatcherPage:
        self.page.goto(link)
        self.expect_status(expect_state)
        return self


def new_streamer(context: BrowserContext, base_url: str) -> StreamerPage:
    return StreamerPage(context.new_page()).open(base_url)


class NetworkCut:
    """Cut one browser context off the service and bring it back, as a network drop would.

    Every WebSocket of the context goes through Playwright's WebSocket routing to the real
    server. `cut()` closes the open ones at both ends and refuses new sockets and negotiate
    calls until `restore()`.
    """

    def __init__(self, context: BrowserContext) -> None:
        self.blocked = False
        self.routes: list = []
        self.refused = 0
        context.route_web_socket(lambda url: url.startswith("ws"), self._on_socket)
        context.route("**/api/negotiate", self._on_negotiate)

    def _on_socket(self, ws) -> None:
        if self.blocked:
            self.refused += 1
            ws.close(code=4000, reason="network cut (test)")
            return
        server = ws.connect_to_server()
        self.routes.append((ws, server))

    def _on_negotiate(self, route) -> None:
        if self.blocked:
            self.refused += 1
            route.abort("internetdisconnected")
        else:
            route.continue_()

    def cut(self) -> None:
        self.blocked = True
        for ws, server in self.routes:
            ws.close(code=4000, reason="network cut (test)")
            server.close(code=1001, reason="network cut (test)")
        self.routes.clear()

    def restore(self) -> None:
        self.blocked = False


class StreamerControls:
    """The streamer page's replay controls (markers, "Record this stream", embed code, delete),
    driven as a person does: buttons, the Alt+M shortcut, the inline label field."""

    def __init__(self, streamer: StreamerPage) -> None:
        self.streamer = streamer
        self.page = streamer.page

    def drop_marker(self, label: str | None = None, *, shortcut: bool = False) -> str:
        """Opens the label field (button or Alt+M from the editor), keeps or replaces the
        default label, submits with Enter; returns the label sent."""
        page = self.page
        if shortcut:
            self.streamer.focus_editor()
            page.keyboard.press("Alt+m")
        else:
            page.get_by_role("button", name="Marker", exact=True).click()
        field = page.get_by_role("textbox", name="Marker label")
        expect(field).to_be_focused()
        if label is not None:
            field.fill(label)
        sent = field.input_value().strip()
        field.press("Enter")
        expect(page.locator("#marker-form")).to_be_hidden()
        return sent

    def markers(self) -> list[dict]:
        return self.page.evaluate("() => window.codestream.state.markers")

    def set_record(self, on: bool) -> None:
        """Toggles "Record this stream", accepting the confirmation turning it off asks for."""
        page = self.page
        box = page.get_by_role("checkbox", name="Record this stream")
        if not on:
            page.once("dialog", lambda d: d.accept())
        box.set_checked(on)
        page.wait_for_function(
            "on => window.codestream.state.record === on", arg=on, timeout=TIMEOUT_MS
        )

    def delete_recording(self) -> None:
        page = self.page
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Delete recording").click()
        expect(page.locator("#deleted")).to_be_visible(timeout=TIMEOUT_MS)
