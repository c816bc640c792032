// A local OpenID authority shaped like Microsoft Entra ID, for the Azure auth-path test.
//
// It is panva's oidc-provider (an OpenID Certified implementation), configured, not
// re-implemented: the client credentials grant, JWT access tokens for a resource (resource
// indicators; `<resource>/.default` scopes as Entra takes them), RS256 keys, and Entra's URL
// layout, so azure-identity and the token validators need no local special case:
//   issuer     https://127.0.0.1:<port>/<tenant>/v2.0
//   discovery  <issuer>/.well-known/openid-configuration
//   token      https://127.0.0.1:<port>/<tenant>/oauth2/v2.0/token
//   keys       https://127.0.0.1:<port>/<tenant>/discovery/v2.0/keys
// Each client's tokens carry its `oid` (object id) and `tid`, as Entra's do.
//
// Input: AUTHORITY_CONFIG (JSON: tenant, cert and key paths, clients [{id, secret, oid}],
// resources [uri]). Output: one JSON line {"port", "issuer"} on stdout once it listens.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import https from "node:https";

import Provider from "oidc-provider";

const config = JSON.parse(process.env.AUTHORITY_CONFIG ?? "{}");
const { tenant, cert, key } = config;
const clients = config.clients ?? [];
const resources = new Set(config.resources ?? []);
const oids = new Map(clients.map((c) => [c.id, c.oid]));

const DEFAULT_SUFFIX = "/.default";

/** Entra's v2 rule: the scope `<resource>/.default` asks for a token for `<resource>`. */
function resourceOf(scope) {
  const wanted = String(scope ?? "")
    .split(" ")
    .find((s) => s.endsWith(DEFAULT_SUFFIX));
  return wanted ? wanted.slice(0, -DEFAULT_SUFFIX.length) : undefined;
}

const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) });
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address();
const origin = `https://127.0.0.1:${port}`;
const issuer = `${origin}/${tenant}/v2.0`;

const signing = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
  format: "jwk",
});

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.id,
    client_secret: c.secret,
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: "client_secret_post",
  })),
  jwks: { keys: [{ ...signing, kid: randomUUID(), alg: "RS256", use: "sig" }] },
  routes: {
    token: `/${tenant}/oauth2/v2.0/token`,
    jwks: `/${tenant}/discovery/v2.0/keys`,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx) => resourceOf(ctx.oidc.params?.scope),
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (!resources.has(resource)) throw new Error(`unknown resource ${resource}`);
        return {
          scope: `${resource}${DEFAULT_SUFFIX}`,
          audience: resource,
          accessTokenFormat: "jwt",
          accessTokenTTL: 3600,
          jwt: { sign: { alg: "RS256" } },
        };
      },
    },
  },
  extraTokenClaims: (_ctx, token) => ({ oid: oids.get(token.clientId), tid: tenant }),
});

const handle = provider.callback();
const discovery = `/${tenant}/v2.0/.well-known/openid-configuration`;
server.on("request", (req, res) => {
  if (req.url === discovery) req.url = "/.well-known/openid-configuration";
  handle(req, res);
});

process.stdout.write(`${JSON.stringify({ port, issuer })}\n`);
const stop = () => server.close(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.resume();
