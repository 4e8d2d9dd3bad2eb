// OAuth refresh end to end (spec 08 §4, 05 §6, 07 §5 step 4): the compiled binary against the loopback fake token
// endpoint and the fake Responses provider. Single-flight across processes (exactly one refresh grant for N
// processes), recovery of a stale refresh lock left by a SIGKILLed refresher, permanent rejection → needsRelogin with
// the credential untouched, transient failures, `models auth refresh` text/JSON, and the gateway using a refreshed
// openai-codex token.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { startFakeOAuth, type FakeOAuth } from "./fake-oauth.ts";
import { startFakeProvider, type FakeProvider } from "./fake-provider.ts";
import { startGateway, stopGateways } from "./gateway-helpers.ts";
import { cleanupSandboxes, expectNoSecrets, json, killLiveJarvis, sandbox, startJarvis, type RunResult, type Sandbox } from "./helpers.ts";

const servers: Array<{ stop(): void }> = [];
afterEach(async () => {
  await killLiveJarvis();
  await stopGateways();
});
afterAll(() => {
  for (const s of servers) s.stop();
  cleanupSandboxes();
});

const ID = "openai-codex:me@example.com";
const OLD_ACCESS = "old-TESTFAKE-access-0123456789";
const LOGIN_FIX = `jarvis models auth login --provider openai-codex --profile-id ${ID}`;

interface World {
  sb: Sandbox;
  oauth: FakeOAuth;
  provider: FakeProvider;
  /** The refresh token seeded into the store. */
  refresh: string;
}

/**
 * A sandbox with an openai-codex OAuth profile (access token expired unless `expiresIn` is given) whose refresh token
 * the fake accepts once (or a spent one with `spent: true`); config points OAuth and the provider at the fakes.
 */
function world(opts: { expiresIn?: number; spent?: boolean; profile?: Record<string, unknown> } = {}): World {
  const sb = sandbox();
  const oauth = startFakeOAuth();
  const provider = startFakeProvider();
  servers.push(oauth, provider);
  const refresh = opts.spent ? "rt-TESTFAKE-spent-0123456789" : oauth.issueRefresh();
  sb.writeConfig({
    auth: {
      oauth: { "openai-codex": { clientId: "jarvis-test-client", authorizeUrl: oauth.authorizeUrl, tokenUrl: oauth.tokenUrl } },
      profiles: { [ID]: { provider: "openai-codex", mode: "oauth", email: "me@example.com" } },
    },
    models: { providers: { "openai-codex": { baseUrl: provider.url } } },
    agents: { defaults: { model: { primary: "openai-codex/gpt-5.2" } } },
  });
  sb.writeStore({
    version: 1,
    profiles: {
      [ID]: { type: "oauth", provider: "openai-codex", access: OLD_ACCESS, refresh, expires: Date.now() + (opts.expiresIn ?? -60_000), email: "me@example.com", clientId: "jarvis-test-client", ...opts.profile },
    },
  });
  return { sb, oauth, provider, refresh };
}

const refreshGrants = (w: World) => w.oauth.tokenRequests.filter((f) => f.grant_type === "refresh_token");
const secretsOf = (w: World) => [OLD_ACCESS, w.refresh, ...w.oauth.issued.flatMap((t) => [t.access, t.refresh])];
const locksIn = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith(".lock"));

async function run(w: World, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const r = await w.sb.run(args, { env });
  expectNoSecrets(r, secretsOf(w));
  return r;
}

/** The stored profile as exact bytes of its JSON (key order included). */
const profileBytes = (w: World) => JSON.stringify(w.sb.readStore().profiles[ID]);

describe("single flight across processes", () => {
  test("8 concurrent `models status --probe` processes on one expired token → exactly one refresh grant, all 8 use the new token", async () => {
    const w = world();
    w.oauth.delayMs = 300; // keep the one refresh in flight while the others arrive
    const N = 8;
    const t0 = performance.now();
    const runs = await Promise.all(Array.from({ length: N }, () => run(w, ["models", "status", "--probe", "--json"])));
    const wallMs = Math.round(performance.now() - t0);
    console.log(`single flight: ${N} processes, ${refreshGrants(w).length} refresh grant(s), ${wallMs} ms wall`);

    expect(refreshGrants(w)).toHaveLength(1);
    expect(refreshGrants(w)[0]).toEqual({ grant_type: "refresh_token", refresh_token: w.refresh, client_id: "jarvis-test-client" });
    const issued = w.oauth.issued[0]!;
    for (const r of runs) {
      expect(r.code).toBe(0);
      const results = json(r).auth.probes.results;
      expect(results).toHaveLength(1);
      expect(results[0]).toMatchObject({ profileId: ID, status: "ok", httpStatus: 200 });
    }
    const calls = w.provider.requests;
    expect(calls).toHaveLength(N);
    for (const c of calls) {
      expect(c.path).toBe("/codex/responses");
      expect(c.credential).toBe(issued.access);
    }
    const p = w.sb.readStore().profiles[ID];
    expect(p.access).toBe(issued.access);
    expect(p.refresh).toBe(issued.refresh);
    expect(Math.abs(p.expires - (issued.at + issued.expiresIn * 1000))).toBeLessThan(1000);
    expect(locksIn(w.sb.agentDir)).toEqual([]);
  });

  test("a refresher SIGKILLed mid-flight leaves a refresh lock with a dead pid; the next process recovers it and refreshes", async () => {
    const w = world();
    w.oauth.delayMs = 3000;
    const killed = startJarvis(["models", "auth", "refresh", "--profile-id", ID], { env: w.sb.env });
    const deadline = Date.now() + 10_000;
    while (w.oauth.tokenRequests.length === 0 && Date.now() < deadline) await Bun.sleep(10);
    expect(w.oauth.tokenRequests).toHaveLength(1);
    const locks = locksIn(w.sb.agentDir);
    expect(locks).toHaveLength(1);
    expect(locks[0]).toMatch(/^auth-profiles\.json\.oauth-[0-9a-f]{16}\.lock$/);
    const lockPath = path.join(w.sb.agentDir, locks[0]!);
    killed.proc.kill("SIGKILL");
    await killed.exited;
    const holder = JSON.parse(fs.readFileSync(lockPath, "utf8"));
    expect(holder.pid).toBe(killed.proc.pid);
    expect(w.sb.readStore().profiles[ID].access).toBe(OLD_ACCESS);

    w.oauth.delayMs = 0;
    const t0 = Date.now();
    const r = await run(w, ["models", "status", "--probe", "--json"]);
    expect(Date.now() - t0).toBeLessThan(5000); // no waiting out a lock whose holder is dead
    expect(r.code).toBe(0);
    expect(json(r).auth.probes.results[0]).toMatchObject({ profileId: ID, status: "ok" });
    expect(refreshGrants(w)).toHaveLength(2);
    expect(refreshGrants(w)[1]!.refresh_token).toBe(w.refresh);
    expect(w.provider.requests.map((q) => q.credential)).toEqual([w.oauth.issued[0]!.access]);
    expect(w.sb.readStore().profiles[ID].refresh).toBe(w.oauth.issued[0]!.refresh);
    expect(locksIn(w.sb.agentDir)).toEqual([]);
  });
});

describe("refresh lock taken over mid-flight (08 §4 step 4)", () => {
  test("the refresher takes its lock again before storing the new tokens, waiting for the live holder", async () => {
    const w = world();
    w.oauth.delayMs = 800;
    const j = startJarvis(["models", "auth", "refresh", "--profile-id", ID], { env: { ...w.sb.env, JARVIS_OAUTH_REFRESH_TIMEOUT_MS: "3000" } });
    const deadline = Date.now() + 10_000;
    while (w.oauth.tokenRequests.length === 0 && Date.now() < deadline) await Bun.sleep(10);
    const lockPath = path.join(w.sb.agentDir, locksIn(w.sb.agentDir)[0]!);
    // Another live process (this test runner) now holds the refresh lock.
    fs.writeFileSync(lockPath, `${JSON.stringify({ pid: process.pid, createdAt: Date.now() })}\n`);
    await j.waitFor(/the OAuth refresh lock .* was taken over during the refresh/, { timeoutMs: 5000 });
    await Bun.sleep(300);
    expect(w.sb.readStore().profiles[ID].access).toBe(OLD_ACCESS);
    const releasedAt = Date.now();
    fs.unlinkSync(lockPath);
    const r = await j.finished();
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${ID}: refreshed, expires in 1h\n`);
    expect(w.sb.readStore().profiles[ID].access).toBe(w.oauth.issued[0]!.access);
    expect(fs.statSync(w.sb.storePath).mtimeMs).toBeGreaterThanOrEqual(releasedAt - 5);
    expect(locksIn(w.sb.agentDir)).toEqual([]);
  });
});

describe("models auth refresh", () => {
  test("forced refresh of a still-valid profile: new pair stored, text line, JSON document", async () => {
    const w = world({ expiresIn: 86_400_000 });
    const r = await run(w, ["models", "auth", "refresh"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${ID}: refreshed, expires in 1h\n`);
    expect(refreshGrants(w)).toHaveLength(1);
    const first = w.oauth.issued[0]!;
    const p = w.sb.readStore().profiles[ID];
    expect(p).toMatchObject({ access: first.access, refresh: first.refresh, email: "me@example.com", clientId: "jarvis-test-client" });

    w.oauth.expiresIn = 7200;
    const j = await run(w, ["models", "auth", "refresh", "--provider", "openai-codex", "--json"]);
    expect(j.code).toBe(0);
    const second = w.oauth.issued[1]!;
    expect(refreshGrants(w)[1]!.refresh_token).toBe(first.refresh);
    expect(json(j)).toEqual({ results: [{ profileId: ID, provider: "openai-codex", ok: true, expiresAt: w.sb.readStore().profiles[ID].expires }] });
    expect(Math.abs(w.sb.readStore().profiles[ID].expires - (second.at + 7_200_000))).toBeLessThan(1000);
  });

  test("a reused refresh token (invalid_grant, refresh_token_reused) → needsRelogin, credential byte-identical, exit 1 with the login fix; status shows relogin_required", async () => {
    const w = world({ spent: true, expiresIn: 3_600_000 });
    const before = profileBytes(w);
    const t0 = Date.now();
    const r = await run(w, ["models", "auth", "refresh"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${ID}: failed — OAuth refresh for ${ID} was rejected (refresh_token_reused). Fix: ${LOGIN_FIX}\n`);
    const store = w.sb.readStore();
    expect(JSON.stringify(store.profiles[ID])).toBe(before);
    expect(store.usageStats[ID].needsRelogin.reason).toBe("refresh_token_reused");
    expect(store.usageStats[ID].needsRelogin.at).toBeGreaterThanOrEqual(t0);
    expect(store.usageStats[ID].disabledReason).toBe("auth_permanent");
    expect(store.usageStats[ID].disabledUntil).toBeGreaterThan(Date.now());

    const status = await run(w, ["models", "status", "--json"]);
    const health = json(status).auth.oauth.profiles.find((h: any) => h.profileId === ID);
    expect(health).toMatchObject({ status: "expiring", reasonCode: "relogin_required", needsRelogin: true, fix: LOGIN_FIX });

    // The access token is still valid, but the profile is disabled (auth_permanent): a probe skips it and spends nothing.
    const probe = await run(w, ["models", "status", "--probe", "--json"]);
    expect(json(probe).auth.probes.results[0]).toMatchObject({ profileId: ID, reasonCode: "disabled" });
    expect(refreshGrants(w)).toHaveLength(1);
    expect(w.provider.requests).toHaveLength(0);

    const j = await run(w, ["models", "auth", "refresh", "--profile-id", ID, "--json"]);
    expect(j.code).toBe(1);
    expect(json(j)).toEqual({
      results: [
        {
          profileId: ID,
          provider: "openai-codex",
          ok: false,
          error: `OAuth refresh for ${ID} was rejected (refresh_token_reused). Log in again: ${LOGIN_FIX}`,
          needsRelogin: true,
        },
      ],
    });
    expect(JSON.stringify(w.sb.readStore().profiles[ID])).toBe(before);
  });

  test("a plain invalid_grant on an expired profile → reason invalid_grant; status expired with needsRelogin", async () => {
    const w = world();
    w.oauth.failWith = { status: 400, body: { error: "invalid_grant", error_description: "Token has been expired or revoked." } };
    const before = profileBytes(w);
    const r = await run(w, ["models", "auth", "refresh", "--profile-id", ID]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${ID}: failed — OAuth refresh for ${ID} was rejected (invalid_grant). Fix: ${LOGIN_FIX}\n`);
    expect(profileBytes(w)).toBe(before);
    expect(w.sb.readStore().usageStats[ID].needsRelogin.reason).toBe("invalid_grant");
    const health = json(await run(w, ["models", "status", "--json"])).auth.oauth.profiles.find((h: any) => h.profileId === ID);
    expect(health).toMatchObject({ status: "expired", needsRelogin: true });
  });

  test("a transient failure (HTTP 503) marks nothing and keeps the profile", async () => {
    const w = world();
    w.oauth.failWith = { status: 503, body: { error: "temporarily_unavailable" } };
    const before = fs.readFileSync(w.sb.storePath, "utf8");
    const r = await run(w, ["models", "auth", "refresh", "--json"]);
    expect(r.code).toBe(1);
    const res = json(r).results[0];
    expect(res).toMatchObject({ profileId: ID, ok: false });
    expect(res.needsRelogin).toBeUndefined();
    expect(res.error).toMatch(/^OAuth token refresh failed for openai-codex: HTTP 503.*\. Please try again or re-authenticate\.$/);
    expect(fs.readFileSync(w.sb.storePath, "utf8")).toBe(before);
    expect(refreshGrants(w)).toHaveLength(1);
  });

  test("selection errors: no OAuth profiles; a token profile named", async () => {
    const sb = sandbox();
    sb.writeStore({ version: 1, profiles: { "anthropic:manual": { type: "token", provider: "anthropic", token: "sk-ant-oat01-TESTFAKE" } } });
    const none = await sb.run(["models", "auth", "refresh"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("No OAuth profiles to refresh.");
    const tok = await sb.run(["models", "auth", "refresh", "--profile-id", "anthropic:manual"]);
    expect(tok.code).toBe(1);
    expect(tok.stderr).toContain('Auth profile "anthropic:manual" is type token; only OAuth profiles can be refreshed. Store a new value with paste-token.');
    expect((await sb.run(["models", "auth", "refresh", "--profile-id", "x:y", "--provider", "x"])).code).toBe(64);
  });
});

describe("gateway", () => {
  // 07 §5 step 4: the gateway refreshes an expired OAuth token (single-flight) before the attempt.
  test("an expired openai-codex token is refreshed once, then the request is answered with the new token", async () => {
    const w = world();
    const gw = await startGateway(w.sb);
    const r = await gw.chat({ model: "openai-codex/gpt-5.2", messages: [{ role: "user", content: "hi" }] });
    expect(r.status).toBe(200);
    expect(r.json.choices[0].message.content).toBe("OK from fake");
    expect(refreshGrants(w)).toHaveLength(1);
    const issued = w.oauth.issued[0]!;
    expect(w.provider.requests).toHaveLength(1);
    expect(w.provider.requests[0]!.path).toBe("/codex/responses");
    expect(w.provider.requests[0]!.credential).toBe(issued.access);
    expect(w.sb.readStore().profiles[ID].access).toBe(issued.access);
    // A second request uses the stored token: no new grant.
    expect((await gw.chat({ model: "openai-codex/gpt-5.2", messages: [{ role: "user", content: "again" }] })).status).toBe(200);
    expect(refreshGrants(w)).toHaveLength(1);
    expect(w.provider.requests[1]!.credential).toBe(issued.access);
    gw.expectClean(secretsOf(w));
  });

  // 07 §5 step 6 / §6: an `auth` failure of an OAuth profile forces one refresh and retries the same profile.
  test("an `auth` failure of a valid openai-codex token forces one refresh and retries the same profile with the new token", async () => {
    const w = world({ expiresIn: 3_600_000 });
    w.provider.script(OLD_ACCESS, { status: 401, body: { error: { type: "invalid_request_error", message: "Your authentication token is no longer valid." } } });
    const gw = await startGateway(w.sb);
    const r = await gw.chat({ model: "openai-codex/gpt-5.2", messages: [{ role: "user", content: "hi" }] });
    expect(r.status).toBe(200);
    expect(refreshGrants(w)).toHaveLength(1);
    expect(w.provider.requests.map((q) => q.credential)).toEqual([OLD_ACCESS, w.oauth.issued[0]!.access]);
    expect(w.sb.readStore().profiles[ID].access).toBe(w.oauth.issued[0]!.access);
    gw.expectClean(secretsOf(w));
  });
});
