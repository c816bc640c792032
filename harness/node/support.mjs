// Shared helpers of the Node SDK tests. The pytest wrapper
// (tests/integration/test_emulator_node.py) starts the emulator and passes it in the env:
//   WPS_CONNECTION_STRING  Endpoint=http://127.0.0.1:PORT;AccessKey=...;Version=1.0;
//   WPS_UPSTREAM_PORT      where the event-handler test must listen (the emulator calls it)
//   PYTHON                 the venv interpreter, to run Microsoft's Python service SDK
import { spawn } from "node:child_process";
import { createHmac, timingSafeEqual } from "node:crypto";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { WebPubSubClient } from "@azure/web-pubsub-client";

const HERE = dirname(fileURLToPath(import.meta.url));

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run me via tests/integration/test_emulator_node.py`);
  }
  return value;
}

const connectionString = required("WPS_CONNECTION_STRING");
const fields = Object.fromEntries(
  connectionString
    .split(";")
    .filter(Boolean)
    .map((part) => {
      const at = part.indexOf("=");
      return [part.slice(0, at).toLowerCase(), part.slice(at + 1)];
    }),
);
export const endpoint = fields.endpoint.replace(/\/$/, "");
export const accessKey = fields.accesskey;
export { connectionString };

/** Unique names, so tests never see each other's groups or users. */
let counter = 0;
export function unique(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

/** The file's one harness/node/service_sdk.py process (Microsoft's Python service SDK). */
let serviceSide;

function serviceProcess() {
  if (!serviceSide) {
    const child = spawn(required("PYTHON"), [join(HERE, "service_sdk.py")], {
      env: process.env,
      stdio: ["pipe", "pipe", "inherit"],
    });
    const waiting = [];
    createInterface({ input: child.stdout }).on("line", (line) => waiting.shift()?.(line));
    child.on("exit", (code) => {
      serviceSide = undefined;
      const reply = JSON.stringify({ error: `service_sdk.py exited with ${code}` });
      waiting.splice(0).forEach((resolve) => resolve(reply));
    });
    // it must not keep the test file alive; it exits when its stdin closes with us
    child.unref();
    child.stdin.unref();
    child.stdout.unref();
    serviceSide = { child, waiting };
  }
  return serviceSide;
}

/** Asks the service SDK process to do `command`; rejects with its error. */
export async function serviceSdk(command, args) {
  const { child, waiting } = serviceProcess();
  const answered = new Promise((resolve) => {
    waiting.push(resolve);
    child.stdin.write(JSON.stringify({ command, args }) + "\n");
  });
  const line = await withTimeout(answered, 20_000, `service SDK ${command}`).catch((err) => {
    child.kill(); // its replies would now answer the wrong requests
    throw err;
  });
  const reply = JSON.parse(line);
  if ("error" in reply) throw new Error(`service SDK ${command}: ${reply.error}`);
  return reply.result;
}

/** A client access URL minted by the service SDK's get_client_access_token. */
export function clientUrl({ hub, user, roles = [], groups = [] }) {
  return serviceSdk("client-url", { hub, user, roles, groups });
}

/** Short keep-alive timers, so none of the SDK's 20-40 s timers outlives a test file. */
export const KEEPALIVE = { keepAliveIntervalInMs: 1_000, keepAliveTimeoutInMs: 5_000 };

/** A started WebPubSubClient (reliable json) that records its events; stopped by `t.after`. */
export async function startClient(t, spec, options = {}) {
  const client = new WebPubSubClient(
    { getClientAccessUrl: () => clientUrl(spec) },
    { ...KEEPALIVE, ...options },
  );
  const log = recordEvents(client);
  t.after(() => stopClient(client, log));
  await withTimeout(client.start(), 10_000, `start ${spec.user ?? "anonymous"}`);
  return { client, log };
}

/** Stops a started client and waits (bounded) until it says it stopped. */
export async function stopClient(client, log) {
  const stopped = log.waitFor("stopped", () => true, 2_000).catch(() => undefined);
  client.stop();
  await stopped;
}

/** Every event of a client, in arrival order, with a way to await the next matching one. */
export function recordEvents(client) {
  const log = new EventLog();
  for (const name of ["connected", "disconnected", "stopped", "group-message", "server-message"]) {
    client.on(name, (args) => log.push(name, args));
  }
  return log;
}

export class EventLog {
  constructor() {
    this.entries = [];
    this.waiters = [];
  }

  push(name, args) {
    const entry = { name, args };
    this.entries.push(entry);
    this.waiters = this.waiters.filter((w) => !w.check());
  }

  of(name) {
    return this.entries.filter((e) => e.name === name).map((e) => e.args);
  }

  /** Data of every group/server message received, in order. */
  data(name = "group-message") {
    return this.of(name).map((args) => args.message.data);
  }

  /** Resolves with the first entry of `name` matching `predicate` (already logged or future). */
  waitFor(name, predicate = () => true, ms = 5_000) {
    const find = () => this.entries.find((e) => e.name === name && predicate(e.args));
    return this.waitUntil(find, ms, `a "${name}" event`).then((e) => e.args);
  }

  /** Resolves once `count` entries of `name` are logged. */
  waitForCount(name, count, ms = 5_000) {
    const enough = () => (this.of(name).length >= count ? this.of(name) : undefined);
    return this.waitUntil(enough, ms, `${count} "${name}" events`);
  }

  waitUntil(find, ms, what) {
    return new Promise((resolve, reject) => {
      const waiter = {
        check: () => {
          const found = find();
          if (found === undefined) return false;
          clearTimeout(waiter.timer);
          resolve(found);
          return true;
        },
      };
      if (waiter.check()) return;
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; log: ${this.describe()}`));
      }, ms);
      this.waiters.push(waiter);
    });
  }

  describe() {
    return JSON.stringify(this.entries.map((e) => [e.name, e.args?.message?.data ?? e.args]));
  }
}

export function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Web PubSub's ce-signature check: any `sha256=<hex>` of HMAC(accessKey, connectionId). */
export function signatureIsValid(connectionId, header) {
  if (!connectionId || !header) return false;
  const expected = Buffer.from(
    "sha256=" + createHmac("sha256", accessKey).update(connectionId).digest("hex"),
  );
  return header
    .split(",")
    .map((part) => Buffer.from(part.trim()))
    .some((offered) => offered.length === expected.length && timingSafeEqual(offered, expected));
}

/**
 * Lets a test cut a client's socket and hold its reconnection, through the SDK's own
 * `_getWebSocketClientFactory` seam. The sockets are still the SDK's own `ws` sockets; only
 * their creation can be delayed while `hold()` is in effect.
 */
export class ConnectionGate {
  constructor(client) {
    const realFactory = client._getWebSocketClientFactory();
    this.current = undefined;
    this.holding = false;
    this.heldAttempt = undefined;
    this.attempts = [];
    this.attemptWaiters = [];
    client._getWebSocketClientFactory = () => ({
      create: (uri, protocol) => {
        const open = () => {
          this.current = realFactory.create(uri, protocol);
          return this.current;
        };
        const attempt = { uri: new URL(uri) };
        this.attempts.push(attempt);
        this.attemptWaiters.splice(0).forEach((resolve) => resolve(attempt));
        if (!this.holding) return open();
        attempt.socket = new DeferredSocket(open);
        this.heldAttempt = attempt;
        return attempt.socket;
      },
    });
  }

  /** Drops the live socket the way a network failure does: no close frame. */
  dropConnection() {
    // `_socket` is the `ws` WebSocket inside the SDK's WebSocketClient
    this.current._socket.terminate();
  }

  hold() {
    this.holding = true;
  }

  /** The next connection attempt the SDK makes (e.g. its recovery). */
  nextAttempt(ms = 10_000) {
    return withTimeout(
      new Promise((resolve) => this.attemptWaiters.push(resolve)),
      ms,
      "the SDK to try to reconnect",
    );
  }

  release() {
    this.holding = false;
    const attempt = this.heldAttempt;
    this.heldAttempt = undefined;
    attempt?.socket.open();
  }
}

/** A WebSocketClient-shaped object that opens its real socket only when told to. */
class DeferredSocket {
  constructor(open) {
    this.openReal = open;
    this.handlers = {};
    this.inner = undefined;
    this.closed = false;
  }

  open() {
    if (this.closed) return;
    this.inner = this.openReal();
    for (const [name, fn] of Object.entries(this.handlers)) this.inner[name](fn);
  }

  on(name, fn) {
    this.handlers[name] = fn;
    this.inner?.[name](fn);
  }

  onopen(fn) {
    this.on("onopen", fn);
  }

  onclose(fn) {
    this.on("onclose", fn);
  }

  onerror(fn) {
    this.on("onerror", fn);
  }

  onmessage(fn) {
    this.on("onmessage", fn);
  }

  close(code, reason) {
    if (this.inner) return this.inner.close(code, reason);
    this.closed = true;
    this.handlers.onclose?.(1006, "closed before it opened");
  }

  send(data) {
    return this.inner ? this.inner.send(data) : Promise.reject(new Error("not open"));
  }

  isOpen() {
    return this.inner?.isOpen() ?? false;
  }
}
