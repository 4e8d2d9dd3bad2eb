/**
 * A fake OAuth authorization server on loopback for tests: `/authorize` records the PKCE challenge and redirects
 * with a code (the test plays the browser), `/token` checks the verifier, state-bound code and redirect URI, issues
 * access tokens (JWTs with `exp` and `email`) with `expires_in` in seconds, and rejects a reused refresh token.
 * A refresh request whose client goes away while `delayMs` runs (e.g. a SIGKILLed jarvis) is dropped without
 * spending its refresh token, as if it never reached the server.
 */
import { createHash, randomBytes } from "node:crypto";

export interface FakeOAuth {
  url: string;
  authorizeUrl: string;
  tokenUrl: string;
  /** Every POST to /token (form fields). */
  tokenRequests: Array<Record<string, string>>;
  /** Refresh tokens currently valid. */
  validRefresh: Set<string>;
  /** Delay /token responses (ms). */
  delayMs: number;
  /** Issue `expires_in` of this many seconds. */
  expiresIn: number;
  /** `exp` claim of issued access tokens, seconds from now (default: `expiresIn`). */
  jwtExpIn?: number;
  /** Leave `expires_in` out of token responses (jarvis must fall back to the JWT `exp`). */
  omitExpiresIn: boolean;
  /** Every token pair issued, with the epoch ms it was issued at. */
  issued: Array<{ at: number; access: string; refresh: string; expiresIn: number; jwtExp: number }>;
  /** Refresh requests dropped because their client disconnected during `delayMs`. */
  abandoned: number;
  /** Make the next token responses fail with this status/body. */
  failWith?: { status: number; body: unknown };
  /** Issue a refresh token pair directly (seeding a store). */
  issueRefresh(): string;
  stop(): void;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** An unsigned JWT with the given claims (jarvis never verifies signatures). */
export function fakeJwt(claims: Record<string, unknown>): string {
  return `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}.sig`;
}

export function startFakeOAuth(opts: { email?: string; accountId?: string } = {}): FakeOAuth {
  const codes = new Map<string, { challenge: string; redirectUri: string; clientId: string }>();
  const fake: FakeOAuth = {
    url: "",
    authorizeUrl: "",
    tokenUrl: "",
    tokenRequests: [],
    validRefresh: new Set(),
    delayMs: 0,
    expiresIn: 3600,
    omitExpiresIn: false,
    issued: [],
    abandoned: 0,
    issueRefresh() {
      const r = `rt-TESTFAKE-${randomBytes(12).toString("hex")}`;
      fake.validRefresh.add(r);
      return r;
    },
    stop: () => server.stop(true),
  };
  const tokens = () => {
    const at = Date.now();
    const jwtExp = Math.floor(at / 1000) + (fake.jwtExpIn ?? fake.expiresIn);
    const access = fakeJwt({ exp: jwtExp, email: opts.email ?? "me@example.com", jti: randomBytes(8).toString("hex") });
    const refresh = fake.issueRefresh();
    fake.issued.push({ at, access, refresh, expiresIn: fake.expiresIn, jwtExp });
    const idClaims: Record<string, unknown> = { email: opts.email ?? "me@example.com" };
    if (opts.accountId) idClaims["https://api.openai.com/auth"] = { chatgpt_account_id: opts.accountId };
    const body: Record<string, unknown> = { access_token: access, refresh_token: refresh, token_type: "Bearer", id_token: fakeJwt(idClaims) };
    if (!fake.omitExpiresIn) body.expires_in = fake.expiresIn;
    return body;
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const u = new URL(req.url);
      if (u.pathname === "/authorize") {
        const code = `code-${randomBytes(8).toString("hex")}`;
        const redirect = u.searchParams.get("redirect_uri")!;
        codes.set(code, { challenge: u.searchParams.get("code_challenge")!, redirectUri: redirect, clientId: u.searchParams.get("client_id")! });
        const to = new URL(redirect);
        to.searchParams.set("code", code);
        to.searchParams.set("state", u.searchParams.get("state")!);
        return new Response(null, { status: 302, headers: { location: to.toString() } });
      }
      if (u.pathname === "/token" && req.method === "POST") {
        const form = Object.fromEntries(new URLSearchParams(await req.text()));
        fake.tokenRequests.push(form);
        if (fake.delayMs) await Bun.sleep(fake.delayMs);
        if (req.signal.aborted) {
          fake.abandoned++;
          return new Response(null, { status: 499 });
        }
        if (fake.failWith) return Response.json(fake.failWith.body, { status: fake.failWith.status });
        if (form.grant_type === "authorization_code") {
          const c = codes.get(form.code ?? "");
          if (!c) return Response.json({ error: "invalid_grant", error_description: "unknown code" }, { status: 400 });
          codes.delete(form.code!);
          const expected = b64url(createHash("sha256").update(form.code_verifier ?? "").digest());
          if (expected !== c.challenge) return Response.json({ error: "invalid_grant", error_description: "PKCE verifier mismatch" }, { status: 400 });
          if (form.redirect_uri !== c.redirectUri || form.client_id !== c.clientId) return Response.json({ error: "invalid_grant", error_description: "redirect_uri/client mismatch" }, { status: 400 });
          return Response.json(tokens());
        }
        if (form.grant_type === "refresh_token") {
          const r = form.refresh_token ?? "";
          if (!fake.validRefresh.has(r)) return Response.json({ error: "invalid_grant", error_description: "refresh_token_reused: this refresh token has already been used" }, { status: 400 });
          fake.validRefresh.delete(r);
          return Response.json(tokens());
        }
        return Response.json({ error: "unsupported_grant_type" }, { status: 400 });
      }
      return new Response("not found", { status: 404 });
    },
  });
  fake.url = `http://127.0.0.1:${server.port}`;
  fake.authorizeUrl = `${fake.url}/authorize`;
  fake.tokenUrl = `${fake.url}/token`;
  return fake;
}

/**
 * Play the browser for the first half of a login: open jarvis's authorize URL at the fake (which records the PKCE
 * challenge) without following the redirect.
 * @returns the redirect URL (jarvis's callback with `code` and `state`)
 */
export async function authorizeRedirect(authorizeUrl: string): Promise<string> {
  const res = await fetch(authorizeUrl, { redirect: "manual" });
  const location = res.headers.get("location");
  if (res.status !== 302 || !location) throw new Error(`fake /authorize answered ${res.status} without a redirect`);
  return location;
}
