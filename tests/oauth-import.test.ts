// `jarvis models auth import --from claude-code|codex` end to end (spec 08 §5, 05 §7): fixture credential files of
// both shapes (valid, expired, missing fields, non-JSON, missing file, Codex API-key-only), the external profiles
// written, the source never written (bytes + mtime), and the re-read on use: a renewed source is picked up by a probe
// or `models auth refresh` without any token-endpoint call.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { fakeJwt, startFakeOAuth, type FakeOAuth } from "./fake-oauth.ts";
import { startFakeProvider, type FakeProvider } from "./fake-provider.ts";
import { backdateTree, cleanupSandboxes, expectNoSecrets, json, sandbox, snapshotTree, type RunResult, type Sandbox } from "./helpers.ts";

const servers: Array<{ stop(): void }> = [];
afterAll(() => {
  for (const s of servers) s.stop();
  cleanupSandboxes();
});

const H = 3_600_000;
const CC_ACCESS = "sk-ant-oat01-" + "TESTFAKEcc".repeat(8) + "abcd";
const CC_ACCESS_2 = "sk-ant-oat01-" + "TESTFAKEc2".repeat(8) + "wxyz";
const CC_REFRESH = "sk-ant-ort01-" + "TESTFAKErr".repeat(6);
const CODEX_REFRESH = "rt-TESTFAKE-codex-0123456789";
const CODEX_KEY = "sk-proj-TESTFAKE-codex-0123456789abcdef";
const CC_FIX = "open Claude Code so it renews its login, then retry (jarvis never refreshes another CLI's credentials)";

const claudeDoc = (accessToken: string, expiresAt: unknown) => ({
  claudeAiOauth: { accessToken, refreshToken: CC_REFRESH, expiresAt, scopes: ["user:inference", "user:profile"], subscriptionType: "max" },
  mcpOAuth: { ignored: true },
});

/** A Codex `auth.json` whose access token expires `expInMs` from now (JWT `exp` in whole seconds). */
function codexDoc(expInMs: number, extra: Record<string, unknown> = {}) {
  const exp = Math.floor((Date.now() + expInMs) / 1000);
  const access = fakeJwt({ exp, "https://api.openai.com/auth": { chatgpt_account_id: "acct-TEST-9" }, jti: `TESTFAKE-${exp}` });
  return {
    doc: { OPENAI_API_KEY: null, tokens: { id_token: fakeJwt({ email: "me@example.com" }), access_token: access, refresh_token: CODEX_REFRESH, account_id: "acct-TEST-9" }, last_refresh: new Date().toISOString(), ...extra },
    access,
    exp,
  };
}

async function run(sb: Sandbox, args: string[], env: Record<string, string> = {}, secrets: string[] = []): Promise<RunResult> {
  const r = await sb.run(args, { env });
  expectNoSecrets(r, [CC_ACCESS, CC_ACCESS_2, CC_REFRESH, CODEX_REFRESH, CODEX_KEY, ...secrets]);
  return r;
}

const config = (sb: Sandbox) => JSON.parse(fs.readFileSync(sb.configPath, "utf8"));

describe("claude-code", () => {
  test("$CLAUDE_CONFIG_DIR/.credentials.json → external anthropic:claude-code, refresh token not copied, source untouched", async () => {
    const sb = sandbox();
    const dir = path.join(sb.home, "cc-config");
    const expiresAt = Date.now() + 7 * H;
    const file = sb.write(path.join(dir, ".credentials.json"), claudeDoc(CC_ACCESS, expiresAt));
    backdateTree(dir);
    const source = snapshotTree(dir);
    const t0 = Date.now();
    const r = await run(sb, ["models", "auth", "import", "--from", "claude-code"], { CLAUDE_CONFIG_DIR: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Imported anthropic:claude-code from ${file} (expires in 7h; jarvis will re-read this file instead of refreshing).\n`);
    const p = sb.readStore().profiles["anthropic:claude-code"];
    expect(p).toEqual({ type: "oauth", provider: "anthropic", access: CC_ACCESS, expires: expiresAt, external: { source: "claude-code", path: file, importedAt: expect.any(Number) } });
    expect(p.external.importedAt).toBeGreaterThanOrEqual(t0);
    expect(p.external.importedAt).toBeLessThanOrEqual(Date.now());
    expect(fs.readFileSync(sb.storePath, "utf8")).not.toContain(CC_REFRESH);
    expect(config(sb).auth.profiles).toEqual({ "anthropic:claude-code": { provider: "anthropic", mode: "oauth" } });
    expect(fs.statSync(sb.storePath).mode & 0o777).toBe(0o600);
    expect(snapshotTree(dir)).toEqual(source);

    // Status lists it as external and never refreshable.
    const health = json(await run(sb, ["models", "status", "--json"])).auth.oauth.profiles.find((h: any) => h.profileId === "anthropic:claude-code");
    expect(health).toMatchObject({ status: "expiring", external: "claude-code" }); // 7 h: inside the 24 h warn window
    expect(health.refreshable).toBeUndefined();
    // Removing jarvis's copy leaves the source alone (05 §5).
    expect((await run(sb, ["models", "auth", "remove", "anthropic:claude-code", "--yes"])).code).toBe(0);
    expect(snapshotTree(dir)).toEqual(source);
  });

  test("default path ~/.claude/.credentials.json, --profile-id, and an expired login is imported as such", async () => {
    const sb = sandbox();
    const expiresAt = Date.now() - 2 * H;
    const file = sb.write(".claude/.credentials.json", claudeDoc(CC_ACCESS, expiresAt));
    const r = await run(sb, ["models", "auth", "import", "--from", "claude-code", "--profile-id", "anthropic:cc"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Imported anthropic:cc from ${file} (expired 2h ago; jarvis will re-read this file instead of refreshing).\n`);
    expect(sb.readStore().profiles["anthropic:cc"]).toMatchObject({ type: "oauth", provider: "anthropic", access: CC_ACCESS, expires: expiresAt, external: { source: "claude-code", path: file } });
    const health = json(await run(sb, ["models", "status", "--json"])).auth.oauth.profiles.find((h: any) => h.profileId === "anthropic:cc");
    expect(health).toMatchObject({ status: "expired", external: "claude-code" });
  });

  const SEC_HINT = "looks like seconds; expected epoch milliseconds";
  const cases: Array<[string, string | object, (file: string) => string]> = [
    ["not JSON", "{claudeAiOauth: nope", (f) => `${f} is not valid JSON.`],
    ["no claudeAiOauth", { other: 1 }, (f) => `${f} has no claudeAiOauth object; no usable tokens in it.`],
    ["no accessToken", { claudeAiOauth: { refreshToken: CC_REFRESH, expiresAt: Date.now() + H } }, (f) => `${f}: claudeAiOauth.accessToken is missing; no usable tokens in it.`],
    ["no expiresAt", { claudeAiOauth: { accessToken: CC_ACCESS } }, (f) => `${f}: claudeAiOauth.expiresAt is missing.`],
    ["expiresAt in seconds", claudeDoc(CC_ACCESS, Math.floor(Date.now() / 1000) + 3600), (f) => `${f}: claudeAiOauth.expiresAt is invalid (${SEC_HINT}).`],
    ["expiresAt a string", claudeDoc(CC_ACCESS, String(Date.now() + H)), (f) => `${f}: claudeAiOauth.expiresAt is invalid.`],
  ];
  for (const [name, content, message] of cases) {
    test(`${name} → exit 1 naming the file and field, nothing written`, async () => {
      const sb = sandbox();
      const dir = path.join(sb.home, "cc");
      const file = sb.write(path.join(dir, ".credentials.json"), content);
      backdateTree(sb.home);
      const before = snapshotTree(sb.home);
      const r = await run(sb, ["models", "auth", "import", "--from", "claude-code"], { CLAUDE_CONFIG_DIR: dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message(file));
      expect(r.stdout).toBe("");
      expect(snapshotTree(sb.home)).toEqual(before);
    });
  }

  test("missing file → the exact message of 05 §7, exit 1, nothing created", async () => {
    const sb = sandbox();
    const file = path.join(sb.home, ".claude", ".credentials.json");
    const r = await run(sb, ["models", "auth", "import", "--from", "claude-code"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `No Claude Code credentials at ${file}. Run \`claude\` and log in first; on macOS Claude Code keeps them in the Keychain, which jarvis does not read — use setup-token instead.`,
    );
    expect(fs.existsSync(sb.state)).toBe(false);
    expect((await run(sb, ["models", "auth", "import"])).code).toBe(64);
    expect((await run(sb, ["models", "auth", "import", "--from", "gemini"])).code).toBe(64);
  });
});

describe("codex", () => {
  test("$CODEX_HOME/auth.json → external openai-codex:codex-cli with expires = JWT exp × 1000, accountId and email; source untouched", async () => {
    const sb = sandbox();
    const dir = path.join(sb.home, "codex-home");
    const { doc, access, exp } = codexDoc(5 * H);
    const file = sb.write(path.join(dir, "auth.json"), doc);
    backdateTree(dir);
    const source = snapshotTree(dir);
    const r = await run(sb, ["models", "auth", "import", "--from", "codex"], { CODEX_HOME: dir }, [access]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Imported openai-codex:codex-cli from ${file} (expires in 5h; jarvis will re-read this file instead of refreshing).\n`);
    expect(sb.readStore().profiles["openai-codex:codex-cli"]).toEqual({
      type: "oauth",
      provider: "openai-codex",
      access,
      expires: exp * 1000,
      accountId: "acct-TEST-9",
      email: "me@example.com",
      external: { source: "codex", path: file, importedAt: expect.any(Number) },
    });
    expect(fs.readFileSync(sb.storePath, "utf8")).not.toContain(CODEX_REFRESH);
    expect(config(sb).auth.profiles).toEqual({ "openai-codex:codex-cli": { provider: "openai-codex", mode: "oauth", email: "me@example.com" } });
    expect(snapshotTree(dir)).toEqual(source);
  });

  test("an expired Codex login is imported (default path ~/.codex/auth.json)", async () => {
    const sb = sandbox();
    const { doc, access, exp } = codexDoc(-3 * H);
    const file = sb.write(".codex/auth.json", doc);
    const r = await run(sb, ["models", "auth", "import", "--from", "codex"], {}, [access]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Imported openai-codex:codex-cli from ${file} (expired 3h ago; jarvis will re-read this file instead of refreshing).\n`);
    expect(sb.readStore().profiles["openai-codex:codex-cli"].expires).toBe(exp * 1000);
  });

  test("API-key-only auth.json → openai:codex-cli type api_key (a plain copy, not external)", async () => {
    const sb = sandbox();
    const dir = path.join(sb.home, "cx");
    const file = sb.write(path.join(dir, "auth.json"), { OPENAI_API_KEY: CODEX_KEY, tokens: null, last_refresh: null });
    backdateTree(dir);
    const source = snapshotTree(dir);
    const r = await run(sb, ["models", "auth", "import", "--from", "codex"], { CODEX_HOME: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Imported openai:codex-cli from ${file} (API key, stored as a copy).\n`);
    expect(sb.readStore().profiles).toEqual({ "openai:codex-cli": { type: "api_key", provider: "openai", key: CODEX_KEY } });
    expect(config(sb).auth.profiles).toEqual({ "openai:codex-cli": { provider: "openai", mode: "api_key" } });
    expect(snapshotTree(dir)).toEqual(source);
  });

  const cases: Array<[string, string | object, (file: string) => string]> = [
    ["not JSON", "OPENAI_API_KEY=sk-nope", (f) => `${f} is not valid JSON.`],
    ["neither tokens nor a key", { OPENAI_API_KEY: null, tokens: null }, (f) => `${f} has neither tokens nor OPENAI_API_KEY; no usable tokens in it.`],
    ["tokens without access_token", { tokens: { refresh_token: CODEX_REFRESH } }, (f) => `${f}: tokens.access_token is missing; no usable tokens in it.`],
    ["an access token without exp", { tokens: { access_token: fakeJwt({ sub: "x" }), refresh_token: CODEX_REFRESH } }, (f) => `${f}: tokens.access_token has no exp claim.`],
    ["an opaque access token", { tokens: { access_token: "opaque-TESTFAKE-token", refresh_token: CODEX_REFRESH } }, (f) => `${f}: tokens.access_token has no exp claim.`],
  ];
  for (const [name, content, message] of cases) {
    test(`${name} → exit 1 naming the file (and field), nothing written`, async () => {
      const sb = sandbox();
      const dir = path.join(sb.home, "cx");
      const file = sb.write(path.join(dir, "auth.json"), content);
      backdateTree(sb.home);
      const before = snapshotTree(sb.home);
      const r = await run(sb, ["models", "auth", "import", "--from", "codex"], { CODEX_HOME: dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message(file));
      expect(snapshotTree(sb.home)).toEqual(before);
    });
  }

  test("missing file → exit 1 naming the path", async () => {
    const sb = sandbox();
    const r = await run(sb, ["models", "auth", "import", "--from", "codex"], { CODEX_HOME: path.join(sb.home, "nowhere") });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`No Codex credentials at ${path.join(sb.home, "nowhere", "auth.json")}. Run \`codex login\` first.`);
    expect(fs.existsSync(sb.state)).toBe(false);
  });
});

describe("re-read on use (external profiles are never refreshed)", () => {
  interface World {
    sb: Sandbox;
    oauth: FakeOAuth;
    provider: FakeProvider;
    dir: string;
  }

  /**
   * A sandbox whose config points anthropic and openai-codex at the fake provider, and declares OAuth token endpoints
   * for both at the fake authorization server — so any refresh attempt would show up in `oauth.tokenRequests`.
   */
  function world(): World {
    const sb = sandbox();
    const oauth = startFakeOAuth();
    const provider = startFakeProvider();
    servers.push(oauth, provider);
    const endpoints = { clientId: "jarvis-test-client", authorizeUrl: oauth.authorizeUrl, tokenUrl: oauth.tokenUrl };
    sb.writeConfig({
      auth: { oauth: { anthropic: endpoints, "openai-codex": endpoints } },
      models: { providers: { anthropic: { baseUrl: provider.url }, "openai-codex": { baseUrl: provider.url } } },
    });
    return { sb, oauth, provider, dir: path.join(sb.home, "ext") };
  }

  test("an expired Claude Code import: the renewed source is picked up by a probe, with the new token, no token-endpoint call", async () => {
    const w = world();
    const file = w.sb.write(path.join(w.dir, ".credentials.json"), claudeDoc(CC_ACCESS, Date.now() - H));
    const env = { CLAUDE_CONFIG_DIR: w.dir };
    expect((await run(w.sb, ["models", "auth", "import", "--from", "claude-code"], env)).code).toBe(0);
    const importedAt = w.sb.readStore().profiles["anthropic:claude-code"].external.importedAt;

    // Claude Code renews its login (the test plays it); jarvis must only read this file.
    const renewedAt = Date.now() + 7 * H;
    w.sb.write(file, claudeDoc(CC_ACCESS_2, renewedAt));
    backdateTree(w.dir);
    const source = snapshotTree(w.dir);

    const r = await run(w.sb, ["models", "status", "--probe", "--json"], env);
    expect(r.code).toBe(0);
    expect(json(r).auth.probes.results).toEqual([expect.objectContaining({ profileId: "anthropic:claude-code", status: "ok" })]);
    expect(w.provider.requests.map((q) => q.credential)).toEqual([CC_ACCESS_2]);
    expect(w.provider.requests[0]!.path).toBe("/v1/messages");
    expect(w.sb.readStore().profiles["anthropic:claude-code"]).toEqual({
      type: "oauth",
      provider: "anthropic",
      access: CC_ACCESS_2,
      expires: renewedAt,
      external: { source: "claude-code", path: file, importedAt },
    });
    expect(w.oauth.tokenRequests).toEqual([]);
    expect(snapshotTree(w.dir)).toEqual(source);
  });

  test("a renewed Codex source is picked up by `models auth refresh`: `updated from Codex`, no token-endpoint call", async () => {
    const w = world();
    const old = codexDoc(-H);
    const file = w.sb.write(path.join(w.dir, "auth.json"), old.doc);
    const env = { CODEX_HOME: w.dir };
    expect((await run(w.sb, ["models", "auth", "import", "--from", "codex"], env, [old.access])).code).toBe(0);
    const renewed = codexDoc(5 * H);
    w.sb.write(file, renewed.doc);
    backdateTree(w.dir);
    const source = snapshotTree(w.dir);

    const r = await run(w.sb, ["models", "auth", "refresh"], env, [old.access, renewed.access]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("openai-codex:codex-cli: updated from Codex, expires in 5h\n");
    expect(w.sb.readStore().profiles["openai-codex:codex-cli"]).toMatchObject({ access: renewed.access, expires: renewed.exp * 1000, accountId: "acct-TEST-9" });
    expect(w.oauth.tokenRequests).toEqual([]);
    expect(snapshotTree(w.dir)).toEqual(source);
  });

  test("a source that was not renewed: refresh fails with the open-the-CLI fix (expired) or reports up to date (still valid); nothing written", async () => {
    const w = world();
    const file = w.sb.write(path.join(w.dir, ".credentials.json"), claudeDoc(CC_ACCESS, Date.now() - H));
    const env = { CLAUDE_CONFIG_DIR: w.dir };
    expect((await run(w.sb, ["models", "auth", "import", "--from", "claude-code"], env)).code).toBe(0);
    const store = fs.readFileSync(w.sb.storePath, "utf8");

    const r = await run(w.sb, ["models", "auth", "refresh", "--profile-id", "anthropic:claude-code"], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`anthropic:claude-code: failed — the Claude Code login in ${file} has expired and was not renewed. Fix: ${CC_FIX}\n`);
    const j = await run(w.sb, ["models", "auth", "refresh", "--json"], env);
    expect(j.code).toBe(1);
    expect(json(j).results).toEqual([{ profileId: "anthropic:claude-code", provider: "anthropic", ok: false, error: `the Claude Code login in ${file} has expired and was not renewed; ${CC_FIX}` }]);
    // A probe of the expired, unrenewed profile makes no upstream call either.
    const probe = await run(w.sb, ["models", "status", "--probe", "--json"], env);
    expect(json(probe).auth.probes.results[0]).toMatchObject({ profileId: "anthropic:claude-code", reasonCode: "expired" });
    expect(w.provider.requests).toEqual([]);
    expect(fs.readFileSync(w.sb.storePath, "utf8")).toBe(store);
    expect(w.oauth.tokenRequests).toEqual([]);

    // Still valid and not renewed: nothing to do, exit 0.
    const valid = Date.now() + 7 * H;
    w.sb.write(file, claudeDoc(CC_ACCESS, valid));
    expect((await run(w.sb, ["models", "auth", "import", "--from", "claude-code"], env)).code).toBe(0);
    const ok = await run(w.sb, ["models", "auth", "refresh"], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe("anthropic:claude-code: up to date with Claude Code, expires in 7h\n");
    expect(w.oauth.tokenRequests).toEqual([]);
  });
});
