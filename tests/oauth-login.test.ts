// `jarvis models auth login` end to end (spec 08 §1–§3, §8; 05 §11): the compiled binary against the loopback fake
// authorization server. The test plays the browser: it reads the authorize URL jarvis prints, opens it at the fake
// (which records the PKCE challenge and redirects) and delivers the redirect to jarvis's callback — or, on a
// pseudo-terminal, pastes it at the prompt. Both orders of the callback/paste race are covered.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import net from "node:net";
import { authorizeRedirect, startFakeOAuth, type FakeOAuth } from "./fake-oauth.ts";
import { freePort } from "./gateway-helpers.ts";
import { backdateTree, cleanupSandboxes, expectNoSecrets, killLiveJarvis, sandbox, snapshotTree, startJarvis, type LiveJarvis, type Sandbox } from "./helpers.ts";

const fakes: FakeOAuth[] = [];
afterEach(killLiveJarvis);
afterAll(() => {
  for (const f of fakes) f.stop();
  cleanupSandboxes();
});

const ID = "openai-codex:me@example.com";
const PROMPT = "Or paste the redirect URL (or code#state) here:";
const URL_RE = /Open this URL to log in:\r?\n(http:\/\/\S+)\r?\n/;

interface World {
  sb: Sandbox;
  fake: FakeOAuth;
  port: number;
}

/** A sandbox whose config makes openai-codex an OAuth provider at the fake, with a free callback port. */
async function world(opts: { accountId?: string; config?: Record<string, unknown> } = {}): Promise<World> {
  const sb = sandbox();
  const fake = startFakeOAuth({ accountId: opts.accountId });
  fakes.push(fake);
  const port = await freePort();
  sb.writeConfig({
    auth: { oauth: { "openai-codex": { clientId: "jarvis-test-client", authorizeUrl: fake.authorizeUrl, tokenUrl: fake.tokenUrl, callbackPort: port } } },
    ...opts.config,
  });
  return { sb, fake, port };
}

function login(w: World, extra: string[] = [], o: { pty?: boolean; env?: Record<string, string> } = {}): LiveJarvis {
  return startJarvis(["models", "auth", "login", "--provider", "openai-codex", "--no-browser", ...extra], { env: { ...w.sb.env, ...o.env }, pty: o.pty });
}

/** The authorize URL jarvis printed. */
async function printedUrl(j: LiveJarvis): Promise<URL> {
  return new URL((await j.waitFor(URL_RE))[1]!);
}

/** Offset just after the printed authorize URL in the output. */
function afterUrl(j: LiveJarvis): number {
  const m = URL_RE.exec(j.output());
  return m ? m.index + m[0].length : 0;
}

/** Every secret the fake issued, for the output scan. */
function issuedSecrets(fake: FakeOAuth): string[] {
  return fake.issued.flatMap((t) => [t.access, t.refresh]);
}

/** Resolves true when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Exit within `ms`, or fail (a lingering listener or prompt would keep jarvis alive). */
async function exitsWithin(j: LiveJarvis, ms = 5000): Promise<{ code: number; output: string; stdout: string }> {
  const r = await Promise.race([j.finished(), Bun.sleep(ms).then(() => undefined)]);
  if (!r) throw new Error(`jarvis did not exit within ${ms} ms; output:\n${j.output()}`);
  return r;
}

describe("login through the loopback callback (no TTY)", () => {
  test("PKCE authorize URL, code exchange, stored profile with absolute expiry, config entry, modes", async () => {
    const w = await world({ accountId: "acct-TEST-1" });
    w.fake.expiresIn = 7200;
    w.fake.jwtExpIn = 600; // expires_in wins over the JWT exp (08 §3)
    const j = login(w);
    const url = await printedUrl(j);
    expect(url.origin + url.pathname).toBe(w.fake.authorizeUrl);
    const q = url.searchParams;
    expect(q.get("response_type")).toBe("code");
    expect(q.get("client_id")).toBe("jarvis-test-client");
    expect(q.get("redirect_uri")).toBe(`http://127.0.0.1:${w.port}/auth/callback`);
    expect(q.get("scope")).toBe("openid profile email offline_access");
    expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("state")).toMatch(/^[0-9a-f]{32}$/);
    expect(q.get("id_token_add_organizations")).toBe("true");
    expect(q.get("originator")).toBe("jarvis");

    const cb = await fetch(await authorizeRedirect(url.toString()));
    expect(cb.status).toBe(200);
    expect(await cb.text()).toContain("jarvis: login complete. You can close this tab.");
    const r = await exitsWithin(j);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Auth profile: ${ID} (openai-codex/oauth), expires in 2h\n`);
    expect(r.output).toContain("Default model available: openai-codex/gpt-5.2 (use --set-default to apply)");
    expectNoSecrets(r.stdout + r.output, issuedSecrets(w.fake));

    // The fake checked verifier ↔ challenge, redirect_uri and client_id; here: what was sent.
    expect(w.fake.tokenRequests).toHaveLength(1);
    const form = w.fake.tokenRequests[0]!;
    expect(form).toMatchObject({ grant_type: "authorization_code", client_id: "jarvis-test-client", redirect_uri: `http://127.0.0.1:${w.port}/auth/callback` });
    expect(form.code_verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const issued = w.fake.issued[0]!;
    const p = w.sb.readStore().profiles[ID];
    expect(p).toEqual({ type: "oauth", provider: "openai-codex", access: issued.access, refresh: issued.refresh, expires: expect.any(Number), email: "me@example.com", accountId: "acct-TEST-1", clientId: "jarvis-test-client" });
    expect(Math.abs(p.expires - (issued.at + 7200 * 1000))).toBeLessThan(1000);
    expect(Object.keys(w.sb.readStore().profiles)).toEqual([ID]);

    const config = JSON.parse(fs.readFileSync(w.sb.configPath, "utf8"));
    expect(config.auth.profiles).toEqual({ [ID]: { provider: "openai-codex", mode: "oauth", email: "me@example.com" } });
    expect(config.agents?.defaults?.model?.primary).toBeUndefined();
    expect(fs.statSync(w.sb.storePath).mode & 0o777).toBe(0o600);
    expect(fs.statSync(w.sb.configPath).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(w.sb.agentDir).filter((f) => f.endsWith(".lock") || f.endsWith(".tmp"))).toEqual([]);
    // The listener is gone once the login is done.
    expect(await listening(w.port)).toBe(false);
  });

  test("without expires_in the access token's JWT exp × 1000 is stored; --set-default sets the provider's default model", async () => {
    const w = await world();
    w.fake.omitExpiresIn = true;
    w.fake.jwtExpIn = 5400;
    const j = login(w, ["--set-default"]);
    await fetch(await authorizeRedirect((await printedUrl(j)).toString()));
    const r = await exitsWithin(j);
    expect(r.code).toBe(0);
    expect(r.output).not.toContain("Default model available");
    const p = w.sb.readStore().profiles[ID];
    expect(p.expires).toBe(w.fake.issued[0]!.jwtExp * 1000);
    expect(JSON.parse(fs.readFileSync(w.sb.configPath, "utf8")).agents.defaults.model.primary).toBe("openai-codex/gpt-5.2");
  });

  test("a wrong state is rejected (400 State mismatch) and nothing stored; a missing code and other paths too; the right callback then works", async () => {
    const w = await world();
    const j = login(w);
    const url = await printedUrl(j);
    const redirect = new URL(await authorizeRedirect(url.toString()));
    const wrong = new URL(redirect);
    wrong.searchParams.set("state", "0".repeat(32));
    const bad = await fetch(wrong);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toBe("State mismatch");
    const noCode = await fetch(`http://127.0.0.1:${w.port}/auth/callback?state=${url.searchParams.get("state")}`);
    expect(noCode.status).toBe(400);
    expect((await fetch(`http://127.0.0.1:${w.port}/other?${redirect.searchParams}`)).status).toBe(404);
    await Bun.sleep(200);
    expect(j.proc.exitCode).toBeNull();
    expect(fs.existsSync(w.sb.storePath)).toBe(false);
    expect(w.fake.tokenRequests).toHaveLength(0);

    expect((await fetch(redirect)).status).toBe(200);
    const r = await exitsWithin(j);
    expect(r.code).toBe(0);
    expect(w.sb.readStore().profiles[ID].access).toBe(w.fake.issued[0]!.access);
  });

  test("error=access_denied → 400 page, exit 1 `Authorization was denied: access_denied`, nothing written", async () => {
    const w = await world();
    backdateTree(w.sb.home);
    const before = snapshotTree(w.sb.home);
    const j = login(w);
    const url = await printedUrl(j);
    const res = await fetch(`http://127.0.0.1:${w.port}/auth/callback?error=access_denied&state=${url.searchParams.get("state")}`);
    expect(res.status).toBe(400);
    const r = await exitsWithin(j);
    expect(r.code).toBe(1);
    expect(r.output).toContain("Authorization was denied: access_denied");
    expect(r.stdout).toBe("");
    expect(w.fake.tokenRequests).toHaveLength(0);
    expect(snapshotTree(w.sb.home)).toEqual(before);
  });

  test("a busy callback port without a TTY → exit 1 naming the port, nothing written", async () => {
    const w = await world();
    const blocker = Bun.serve({ hostname: "127.0.0.1", port: w.port, fetch: () => new Response("someone else") });
    try {
      backdateTree(w.sb.home);
      const before = snapshotTree(w.sb.home);
      const r = await exitsWithin(login(w));
      expect(r.code).toBe(1);
      expect(r.output).toContain(`Cannot listen on 127.0.0.1:${w.port} (EADDRINUSE); paste the redirect URL instead.`);
      expect(r.output).not.toContain("Open this URL");
      expect(snapshotTree(w.sb.home)).toEqual(before);
    } finally {
      blocker.stop(true);
    }
  });

  test("login timeout (JARVIS_OAUTH_LOGIN_TIMEOUT_MS) → exit 1 `Login timed out after 2s.`, listener closed, nothing written", async () => {
    const w = await world();
    backdateTree(w.sb.home);
    const before = snapshotTree(w.sb.home);
    const t0 = Date.now();
    const j = login(w, [], { env: { JARVIS_OAUTH_LOGIN_TIMEOUT_MS: "2000" } });
    await printedUrl(j);
    const r = await exitsWithin(j, 8000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
    expect(r.code).toBe(1);
    expect(r.output).toContain("Login timed out after 2s.");
    expect(await listening(w.port)).toBe(false);
    expect(snapshotTree(w.sb.home)).toEqual(before);
  });

  test("token endpoint error → exit 1 `Token exchange failed: HTTP 400 invalid_grant: …`, nothing written", async () => {
    const w = await world();
    w.fake.failWith = { status: 400, body: { error: "invalid_grant", error_description: "code expired" } };
    backdateTree(w.sb.home);
    const before = snapshotTree(w.sb.home);
    const j = login(w);
    expect((await fetch(await authorizeRedirect((await printedUrl(j)).toString()))).status).toBe(200);
    const r = await exitsWithin(j);
    expect(r.code).toBe(1);
    expect(r.output).toContain("Token exchange failed: HTTP 400 invalid_grant: code expired");
    expect(snapshotTree(w.sb.home)).toEqual(before);
  });

  test("a token response without expires_in and without a JWT exp → exit 1, nothing written", async () => {
    const w = await world();
    w.fake.failWith = { status: 200, body: { access_token: "opaque-TESTFAKE-access-0123456789", token_type: "Bearer" } };
    const j = login(w);
    await fetch(await authorizeRedirect((await printedUrl(j)).toString()));
    const r = await exitsWithin(j);
    expect(r.code).toBe(1);
    expect(r.output).toContain("token response has no expires_in and the access token has no exp claim");
    expect(fs.existsSync(w.sb.storePath)).toBe(false);
  });

  test("a provider without OAuth → exit 1 with the exact message, before any flow", async () => {
    const w = await world();
    const r = await w.sb.run(["models", "auth", "login", "--provider", "anthropic"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Provider "anthropic" has no OAuth login. OAuth providers: openai-codex. For API keys use paste-token or onboard.');
    expect(r.stderr).not.toContain("Open this URL");
    const bare = sandbox();
    const r2 = await bare.run(["models", "auth", "login", "--provider", "openai-codex"]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain('Provider "openai-codex" has no OAuth login. OAuth providers: none. For API keys use paste-token or onboard.');
    expect(fs.existsSync(bare.state)).toBe(false);
  });
});

describe("replacing an existing profile", () => {
  function seed(w: World, extra: Record<string, unknown> = {}) {
    const now = Date.now();
    w.sb.writeStore({
      version: 1,
      profiles: {
        [ID]: { type: "oauth", provider: "openai-codex", access: "old-TESTFAKE-access-1", refresh: "old-TESTFAKE-refresh-1", expires: now + 86_400_000, email: "me@example.com" },
        "openai-codex:other": { type: "oauth", provider: "openai-codex", access: "old-TESTFAKE-access-2", refresh: "old-TESTFAKE-refresh-2", expires: now + 86_400_000 },
      },
      usageStats: { [ID]: { lastUsed: 5, cooldownUntil: now + 600_000, cooldownReason: "auth", errorCount: 1 } },
      ...extra,
    });
  }

  test("--profile-id of a still-valid profile without --force and without a TTY → exit 1 before the flow, nothing written", async () => {
    const w = await world();
    seed(w);
    backdateTree(w.sb.home);
    const before = snapshotTree(w.sb.home);
    const r = await exitsWithin(login(w, ["--profile-id", ID]));
    expect(r.code).toBe(1);
    expect(r.output).toContain(`Profile ${ID} is still valid; pass --force to replace it.`);
    expect(r.output).not.toContain("Open this URL");
    expect(snapshotTree(w.sb.home)).toEqual(before);
  });

  test("the default id (from the email) of a still-valid profile → exit 1 after the exchange, before anything is written", async () => {
    const w = await world();
    seed(w);
    backdateTree(w.sb.home);
    const before = snapshotTree(w.sb.home);
    const j = login(w);
    await fetch(await authorizeRedirect((await printedUrl(j)).toString()));
    const r = await exitsWithin(j);
    expect(r.code).toBe(1);
    expect(r.output).toContain(`Profile ${ID} is still valid; pass --force to replace it.`);
    expect(w.fake.tokenRequests).toHaveLength(1);
    expect(snapshotTree(w.sb.home)).toEqual(before);
  });

  test("--force replaces only that profile id (cooldown cleared), the other profile stays byte-identical", async () => {
    const w = await world();
    seed(w, { order: { "openai-codex": ["openai-codex:other", ID] } });
    const beforeStore = w.sb.readStore();
    const j = login(w, ["--profile-id", ID, "--force"]);
    await fetch(await authorizeRedirect((await printedUrl(j)).toString()));
    const r = await exitsWithin(j);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Auth profile: ${ID} (openai-codex/oauth), expires in 1h`);
    const after = w.sb.readStore();
    expect(after.profiles[ID].access).toBe(w.fake.issued[0]!.access);
    expect(after.profiles[ID].refresh).toBe(w.fake.issued[0]!.refresh);
    expect(after.profiles["openai-codex:other"]).toEqual(beforeStore.profiles["openai-codex:other"]);
    expect(after.order).toEqual(beforeStore.order);
    expect(after.usageStats[ID].cooldownUntil).toBeUndefined();
    expect(after.usageStats[ID].lastUsed).toBe(5);
    expectNoSecrets(r.stdout + r.output, [...issuedSecrets(w.fake), "old-TESTFAKE-access-1", "old-TESTFAKE-refresh-1"]);
  });

  test("an expired or relogin-required profile is replaced without --force", async () => {
    const w = await world();
    const now = Date.now();
    w.sb.writeStore({
      version: 1,
      profiles: { [ID]: { type: "oauth", provider: "openai-codex", access: "old-TESTFAKE-access-1", refresh: "old-TESTFAKE-refresh-1", expires: now + 86_400_000 } },
      usageStats: { [ID]: { needsRelogin: { reason: "invalid_grant", at: now - 1000 } } },
    });
    const j = login(w, ["--profile-id", ID]);
    await fetch(await authorizeRedirect((await printedUrl(j)).toString()));
    const r = await exitsWithin(j);
    expect(r.code).toBe(0);
    const after = w.sb.readStore();
    expect(after.profiles[ID].access).toBe(w.fake.issued[0]!.access);
    expect(after.usageStats?.[ID]?.needsRelogin).toBeUndefined();
  });
});

describe("login on a terminal: callback and paste race", () => {
  /** Wait for the prompt that follows the URL; returns the URL. */
  async function promptShown(j: LiveJarvis): Promise<URL> {
    const url = await printedUrl(j);
    // The prompt comes after the URL (08 §2 steps 4–5), so the URL is not printed into the prompt line.
    await j.waitFor(new RegExp(PROMPT.replace(/[()]/g, "\\$&")), { from: afterUrl(j) });
    return url;
  }

  test("paste first while the callback is still open: stored, listener closed, process exits", async () => {
    const w = await world();
    const j = login(w, [], { pty: true });
    const url = await promptShown(j);
    expect(await listening(w.port)).toBe(true);
    const redirect = await authorizeRedirect(url.toString());
    await j.write(`${redirect}\r`);
    const r = await exitsWithin(j);
    expect(r.code).toBe(0);
    expect(r.output).toContain(`Auth profile: ${ID} (openai-codex/oauth), expires in 1h`);
    expect(w.sb.readStore().profiles[ID].access).toBe(w.fake.issued[0]!.access);
    expect(await listening(w.port)).toBe(false);
    // The code was spent once: delivering the same redirect now finds nobody listening.
    expect(await fetch(redirect).then(() => "answered", () => "refused")).toBe("refused");
    expect(w.fake.tokenRequests).toHaveLength(1);
    expectNoSecrets(r.output, issuedSecrets(w.fake));
  });

  test("callback first while the prompt is open: the prompt is cancelled and the process exits without input", async () => {
    const w = await world();
    const j = login(w, [], { pty: true });
    const url = await promptShown(j);
    expect((await fetch(await authorizeRedirect(url.toString()))).status).toBe(200);
    const r = await exitsWithin(j);
    expect(r.code).toBe(0);
    expect(r.output).toContain(`Auth profile: ${ID} (openai-codex/oauth), expires in 1h`);
    expect(w.sb.readStore().profiles[ID].refresh).toBe(w.fake.issued[0]!.refresh);
    expect(w.fake.tokenRequests).toHaveLength(1);
  });

  test("a pasted URL with a wrong state is refused and asked again; `code#state` is accepted", async () => {
    const w = await world();
    const j = login(w, [], { pty: true });
    const url = await promptShown(j);
    const redirect = new URL(await authorizeRedirect(url.toString()));
    const wrong = new URL(redirect);
    wrong.searchParams.set("state", "f".repeat(32));
    const mark = j.output().length;
    await j.write(`${wrong}\r`);
    await j.waitFor(/State mismatch; paste the URL from this login attempt\./, { from: mark });
    await j.waitFor(new RegExp(PROMPT.replace(/[()]/g, "\\$&")), { from: mark });
    expect(fs.existsSync(w.sb.storePath)).toBe(false);
    await j.write(`${redirect.searchParams.get("code")}#${redirect.searchParams.get("state")}\r`);
    const r = await exitsWithin(j);
    expect(r.code).toBe(0);
    expect(w.sb.readStore().profiles[ID].access).toBe(w.fake.issued[0]!.access);
  });

  test("a busy callback port on a TTY: warning, then the pasted redirect completes the login", async () => {
    const w = await world();
    const blocker = Bun.serve({ hostname: "127.0.0.1", port: w.port, fetch: () => new Response("someone else") });
    try {
      const j = login(w, [], { pty: true });
      await j.waitFor(new RegExp(`warning: Cannot listen on 127\\.0\\.0\\.1:${w.port} \\(EADDRINUSE\\); paste the redirect URL instead\\.`));
      const url = await promptShown(j);
      await j.write(`${await authorizeRedirect(url.toString())}\r`);
      const r = await exitsWithin(j);
      expect(r.code).toBe(0);
      expect(w.sb.readStore().profiles[ID].access).toBe(w.fake.issued[0]!.access);
    } finally {
      blocker.stop(true);
    }
  });

  test("Ctrl+C at the prompt → exit 130, nothing written, listener closed", async () => {
    const w = await world();
    backdateTree(w.sb.home);
    const before = snapshotTree(w.sb.home);
    const j = login(w, [], { pty: true });
    await promptShown(j);
    await j.write("\x03");
    const r = await exitsWithin(j);
    expect(r.code).toBe(130);
    expect(await listening(w.port)).toBe(false);
    expect(snapshotTree(w.sb.home)).toEqual(before);
  });

  test("a still-valid --profile-id on a TTY asks before the flow; answering no changes nothing", async () => {
    const w = await world();
    const now = Date.now();
    w.sb.writeStore({ version: 1, profiles: { [ID]: { type: "oauth", provider: "openai-codex", access: "old-TESTFAKE-access-1", refresh: "old-TESTFAKE-refresh-1", expires: now + 86_400_000 } } });
    backdateTree(w.sb.home);
    const before = snapshotTree(w.sb.home);
    const j = login(w, ["--profile-id", ID], { pty: true });
    await j.waitFor(new RegExp(`Profile ${ID.replace(/[.]/g, "\\.")} is still valid\\. Log in again and replace it\\? \\[y/N\\]`));
    await j.write("n\r");
    const r = await exitsWithin(j);
    expect(r.code).toBe(130); // declining is a cancellation: nothing written (README exit codes)
    expect(r.output).toContain("Login cancelled; nothing was changed.");
    expect(r.output).not.toContain("Open this URL");
    expect(snapshotTree(w.sb.home)).toEqual(before);
  });
});
