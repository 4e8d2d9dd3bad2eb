// `jarvis doctor` end to end, one fixture per finding code of spec 09 §1.1: fixture in, finding out (code, severity,
// autoFix, and the exact fix text where the spec gives one). Every run is read-only (no byte, mode, mtime, file, dir
// or lock may change — runRO checks it) and is scanned for every fixture secret.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { cleanupSandboxes, fake, sandbox, writeScript, type Sandbox } from "./helpers.ts";
import { DAY, H, MIN, fakeSecret, runRO, scratchDir } from "./status-helpers.ts";

afterAll(cleanupSandboxes);

const S = {
  key: fake.anthropicKey,
  token: fake.anthropicToken,
  openai: fake.openaiKey,
  other: fakeSecret("sk-proj-other-", 40, "OTHR"),
  access: fakeSecret("acc-", 40, "ACCS"),
  refresh: fakeSecret("ref-", 40, "REFR"),
  resolver: fakeSecret("vault-", 30, "VLT1"),
  gateway: fakeSecret("gw-", 30, "GWT1"),
  header: fakeSecret("hdr-", 30, "HDR1"),
  clientSecret: fakeSecret("cs-", 30, "CSE1"),
};
const SECRETS = Object.values(S);

/** A sandbox whose state dir and agent dir exist with safe modes (so no fs.* noise). */
function home(): Sandbox {
  const sb = sandbox();
  fs.mkdirSync(sb.agentDir, { recursive: true, mode: 0o700 });
  for (let d = sb.agentDir; d !== sb.home; d = path.dirname(d)) fs.chmodSync(d, 0o700);
  return sb;
}

/** A sandbox with an auth store (0600) holding `profiles` (plus extra top-level keys). */
function withStore(profiles: Record<string, unknown>, extra: Record<string, unknown> = {}): Sandbox {
  const sb = home();
  sb.writeStore({ version: 1, profiles, ...extra });
  return sb;
}

/** `jarvis doctor --json` (read-only guard + secret scan); returns the document and exit code. */
async function doctor(sb: Sandbox, opts: { env?: Record<string, string | undefined>; cwd?: string; args?: string[] } = {}) {
  const r = await runRO(sb, ["doctor", "--json", ...(opts.args ?? [])], { env: opts.env, cwd: opts.cwd, secrets: SECRETS });
  expect(r.stderr).not.toMatch(/\n\s+at |unexpected failure|TypeError|ReferenceError/);
  expect(r.doc).toBeDefined();
  return { code: r.code, doc: r.doc, findings: r.doc.findings as any[] };
}

/** The findings with `code` (fails when there is none). */
function find(findings: any[], code: string, pred: (f: any) => boolean = () => true): any {
  const f = findings.find((x) => x.code === code && pred(x));
  if (!f) throw new Error(`no ${code} finding in:\n${JSON.stringify(findings, null, 2)}`);
  return f;
}

const anthropicKeyStore = () => ({ "anthropic:default": { type: "api_key", provider: "anthropic", key: S.key } });

describe("state, permissions, ownership, agents", () => {
  test("state.missing: info, nothing created", async () => {
    const sb = sandbox();
    const { code, findings } = await doctor(sb);
    expect(find(findings, "state.missing")).toEqual({ code: "state.missing", severity: "info", message: "~/.jarvis does not exist yet", path: sb.state, fix: "created on first write", autoFix: false });
    expect(code).toBe(1); // anthropic (the built-in default model) has no credential
    expect(fs.existsSync(sb.state)).toBe(false);
  });

  test("fs.state_dir.perms and fs.agent_dir.perms: warn, chmod 700", async () => {
    const sb = withStore(anthropicKeyStore());
    fs.chmodSync(sb.state, 0o755);
    fs.chmodSync(sb.agentDir, 0o750);
    const { code, findings } = await doctor(sb);
    expect(code).toBe(0);
    expect(find(findings, "fs.state_dir.perms")).toMatchObject({ severity: "warn", path: sb.state, fix: "chmod 700 ~/.jarvis", autoFix: true, message: "~/.jarvis is accessible by group/others (0755)" });
    expect(find(findings, "fs.agent_dir.perms")).toMatchObject({ severity: "warn", path: sb.agentDir, fix: "chmod 700 ~/.jarvis/agents/main/agent", autoFix: true });
  });

  test("fs.store.perms: warn when readable by others, error when group/world-writable", async () => {
    const sb = withStore(anthropicKeyStore());
    fs.chmodSync(sb.storePath, 0o644);
    let f = find((await doctor(sb)).findings, "fs.store.perms");
    expect(f).toMatchObject({ severity: "warn", fix: "chmod 600 ~/.jarvis/agents/main/agent/auth-profiles.json", autoFix: true, path: sb.storePath });
    fs.chmodSync(sb.storePath, 0o660);
    const r = await doctor(sb);
    f = find(r.findings, "fs.store.perms");
    expect(f).toMatchObject({ severity: "error", message: "~/.jarvis/agents/main/agent/auth-profiles.json is writable by group/others (0660)" });
    expect(r.code).toBe(1);
  });

  test("fs.config.perms: warn when group/world-readable, error when world-writable", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.writeConfig({});
    fs.chmodSync(sb.configPath, 0o644);
    expect(find((await doctor(sb)).findings, "fs.config.perms")).toMatchObject({ severity: "warn", fix: "chmod 600 ~/.jarvis/jarvis.json", message: "~/.jarvis/jarvis.json is readable by group/others (0644)" });
    fs.chmodSync(sb.configPath, 0o606);
    expect(find((await doctor(sb)).findings, "fs.config.perms")).toMatchObject({ severity: "error" });
  });

  test("fs.dotenv.perms: warn, chmod 600", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.write(path.join(sb.state, ".env"), "# nothing\n", 0o644);
    fs.chmodSync(path.join(sb.state, ".env"), 0o644);
    expect(find((await doctor(sb)).findings, "fs.dotenv.perms")).toMatchObject({ severity: "warn", fix: "chmod 600 ~/.jarvis/.env", autoFix: true });
  });

  test.skipIf(process.getuid?.() !== 0)("fs.owner: a credential file owned by another user (manual chown)", async () => {
    const sb = withStore(anthropicKeyStore());
    fs.chownSync(sb.storePath, 4242, 4242);
    const f = find((await doctor(sb)).findings, "fs.owner");
    expect(f).toMatchObject({ severity: "warn", path: sb.storePath, autoFix: false, message: "~/.jarvis/agents/main/agent/auth-profiles.json is owned by uid 4242, not the current user (uid 0)" });
    expect(f.fix).toContain("chown");
  });

  test("fs.unreadable: ~/.jarvis/.env that cannot be read (here: a directory)", async () => {
    const sb = withStore(anthropicKeyStore());
    fs.mkdirSync(path.join(sb.state, ".env"), { mode: 0o700 });
    const { code, findings } = await doctor(sb);
    expect(code).toBe(1);
    expect(find(findings, "fs.unreadable")).toMatchObject({ severity: "error", message: `cannot read ${path.join(sb.state, ".env")} (EISDIR); its values are not used` });
  });

  test.skipIf(process.getuid?.() === 0)("fs.unreadable: an agent dir without permissions (non-root only)", async () => {
    const sb = withStore(anthropicKeyStore());
    fs.chmodSync(sb.agentDir, 0o000);
    try {
      const r = await sb.run(["doctor", "--json"]);
      expect(r.code).toBe(1);
      expect(find(JSON.parse(r.stdout).findings, "fs.unreadable", (f) => f.path === sb.storePath).severity).toBe("error");
    } finally {
      fs.chmodSync(sb.agentDir, 0o700);
    }
  });

  test("fs.shared_storage: a state dir on Android shared storage is an error (nothing created there)", async () => {
    const sb = sandbox();
    const dir = `/storage/emulated/0/jarvis-doctor-test-${process.pid}`;
    const { code, findings } = await doctor(sb, { env: { JARVIS_STATE_DIR: dir } });
    expect(code).toBe(1);
    expect(find(findings, "fs.shared_storage")).toMatchObject({ severity: "error", path: dir, autoFix: false });
    expect(fs.existsSync(dir)).toBe(false);
  });

  test("agents.shared_dir: two agents resolving to one agent dir", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.writeConfig({ agents: { list: [{ id: "main", default: true }, { id: "work", agentDir: "~/.jarvis/agents/main/agent" }] } });
    const { code, findings } = await doctor(sb);
    expect(code).toBe(1);
    expect(find(findings, "agents.shared_dir")).toMatchObject({ severity: "error", path: sb.agentDir, message: "agents main, work share the agent dir ~/.jarvis/agents/main/agent" });
  });

  test("lock.stale (dead pid, old createdAt, garbage + old mtime) but not a live lock; tmp.leftover only when older than 60 s", async () => {
    const sb = withStore(anthropicKeyStore());
    const old = (p: string) => fs.utimesSync(p, new Date(Date.now() - H), new Date(Date.now() - H));
    sb.write(`${sb.storePath}.lock`, JSON.stringify({ pid: 2 ** 22 + 17, createdAt: Date.now() }));
    sb.write(`${sb.configPath}.lock`, "garbage");
    old(`${sb.configPath}.lock`);
    sb.write(path.join(sb.state, ".env.lock"), JSON.stringify({ pid: process.pid, createdAt: Date.now() }));
    sb.write(`${sb.storePath}.123.0badc0de.tmp`, "{}");
    old(`${sb.storePath}.123.0badc0de.tmp`);
    sb.write(`${sb.storePath}.124.0badc0df.tmp`, "{}");
    const { findings } = await doctor(sb);
    const stale = findings.filter((f) => f.code === "lock.stale").map((f) => f.path).sort();
    expect(stale).toEqual([`${sb.configPath}.lock`, `${sb.storePath}.lock`].sort());
    expect(find(findings, "lock.stale", (f) => f.path === `${sb.configPath}.lock`)).toMatchObject({ severity: "warn", autoFix: true, fix: "rm ~/.jarvis/jarvis.json.lock", message: "~/.jarvis/jarvis.json.lock is a stale lock (unreadable content)" });
    const tmps = findings.filter((f) => f.code === "tmp.leftover");
    expect(tmps).toEqual([
      { code: "tmp.leftover", severity: "info", message: "~/.jarvis/agents/main/agent/auth-profiles.json.123.0badc0de.tmp is a temp file left by a crashed writer", path: `${sb.storePath}.123.0badc0de.tmp`, fix: "rm ~/.jarvis/agents/main/agent/auth-profiles.json.123.0badc0de.tmp", autoFix: true },
    ]);
  });
});

describe("config", () => {
  test("config.parse_error names file, line and column; doctor goes on", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.writeConfig("{\n  agents: {\n    list: [}\n}\n");
    const { code, findings } = await doctor(sb);
    expect(code).toBe(1);
    const f = find(findings, "config.parse_error");
    expect(f.severity).toBe("error");
    expect(f.message).toMatch(new RegExp(`^Invalid config ${sb.configPath}: .* at line 3, column 12$`));
    // The other checks still ran: the store was read and its key counts for anthropic.
    expect(findings.some((f) => f.code === "auth.provider_missing")).toBe(false);
  });

  test("config.invalid: a key jarvis reads has a wrong type (the rest is still checked)", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.writeConfig({ gateway: { port: "x" }, agents: { defaults: { model: { primary: "openai/gpt-5.2" } } } });
    const { code, findings } = await doctor(sb);
    expect(code).toBe(1);
    expect(find(findings, "config.invalid")).toMatchObject({ severity: "error", message: `Invalid config ${sb.configPath}: gateway.port: expected integer 1-65535`, fix: "fix gateway.port in ~/.jarvis/jarvis.json" });
    // The valid part still counts: openai is in use and has no credential.
    expect(find(findings, "auth.provider_missing")).toMatchObject({ provider: "openai" });
  });

  test("config.invalid: a problem in the secrets block is reported once", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.writeConfig({ secrets: { providers: { vault: { source: "nope" } } } });
    const { code, findings } = await doctor(sb);
    expect(code).toBe(1);
    expect(findings.filter((f) => f.code === "config.invalid").map((f) => f.message)).toEqual([
      `Invalid config ${sb.configPath}: secrets.providers.vault.source: expected "env", "file" or "exec"`,
    ]);
  });

  test("config.missing_var: ${VAR} in a non-ref position is unset", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.writeConfig({ models: { providers: { groq: { baseUrl: "https://${GROQ_HOST_X}/v1" } } } });
    const f = find((await doctor(sb)).findings, "config.missing_var");
    expect(f).toMatchObject({ severity: "error", message: "Config models.providers.groq.baseUrl references ${GROQ_HOST_X}, which is not set", fix: "set GROQ_HOST_X (e.g. in ~/.jarvis/.env)" });
  });

  test("config.order_dangling: ids missing from the store or of another provider (auto)", async () => {
    const sb = withStore({ ...anthropicKeyStore(), "openai:default": { type: "api_key", provider: "openai", key: S.openai } });
    sb.writeConfig({ auth: { order: { anthropic: ["anthropic:default", "anthropic:gone", "openai:default"] } } });
    const f = find((await doctor(sb)).findings, "config.order_dangling");
    expect(f).toMatchObject({ severity: "warn", autoFix: true, provider: "anthropic", message: "auth.order.anthropic lists anthropic:gone (not in the store) and openai:default (another provider)" });
  });

  test("config.profile_dangling: info with the remove command", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.writeConfig({ auth: { profiles: { "anthropic:old": { provider: "anthropic", mode: "token" } } } });
    expect(find((await doctor(sb)).findings, "config.profile_dangling")).toEqual({
      code: "config.profile_dangling",
      severity: "info",
      message: "auth.profiles.anthropic:old has no stored profile",
      path: sb.configPath,
      profileId: "anthropic:old",
      fix: "jarvis models auth remove anthropic:old",
      autoFix: false,
    });
  });

  test("config.mode_mismatch: warn, auto; the oauth/token pair is allowed", async () => {
    const sb = withStore({ ...anthropicKeyStore(), "anthropic:manual": { type: "token", provider: "anthropic", token: S.token } });
    sb.writeConfig({ auth: { profiles: { "anthropic:default": { provider: "anthropic", mode: "token" }, "anthropic:manual": { provider: "anthropic", mode: "oauth" } } } });
    const { findings } = await doctor(sb);
    expect(findings.filter((f) => f.code === "config.mode_mismatch")).toEqual([
      {
        code: "config.mode_mismatch",
        severity: "warn",
        message: 'auth.profiles.anthropic:default.mode is "token" but the stored profile is type api_key',
        path: sb.configPath,
        profileId: "anthropic:default",
        fix: 'set auth.profiles.anthropic:default.mode to "api_key"',
        autoFix: true,
      },
    ]);
  });

  test("gateway.no_token: bind lan without a token; a configured token clears it", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.writeConfig({ gateway: { bind: "lan" } });
    expect(find((await doctor(sb)).findings, "gateway.no_token")).toMatchObject({ severity: "error", autoFix: false });
    const ok = await doctor(sb, { env: { JARVIS_GATEWAY_TOKEN: "gw-TESTFAKE-token-0123456789" } });
    expect(ok.findings.some((f) => f.code === "gateway.no_token")).toBe(false);
    expect(ok.code).toBe(0);
  });
});

describe("store", () => {
  test("store.parse_error: file:line:column, never auto-fixed", async () => {
    const sb = home();
    sb.writeStore('{"version": 1,\n "profiles": {"a": }}\n');
    const { code, findings } = await doctor(sb);
    expect(code).toBe(1);
    const f = find(findings, "store.parse_error");
    expect(f).toMatchObject({ severity: "error", autoFix: false, path: sb.storePath });
    expect(f.message).toStartWith(`${sb.storePath} is not valid JSON: `);
    expect(f.message).toContain("at line 2, column");
  });

  test("store.version: unsupported version", async () => {
    const sb = home();
    sb.writeStore({ version: 2, profiles: {} });
    expect(find((await doctor(sb)).findings, "store.version")).toMatchObject({ severity: "error", autoFix: false, message: "auth-profiles.json has version 2; this jarvis understands version 1" });
  });

  test("store.legacy_flat: warn, auto", async () => {
    const sb = home();
    sb.writeStore({ anthropic: { type: "api_key", key: S.key } });
    const f = find((await doctor(sb)).findings, "store.legacy_flat");
    expect(f).toMatchObject({ severity: "warn", autoFix: true, path: sb.storePath, message: "~/.jarvis/agents/main/agent/auth-profiles.json uses the legacy flat layout" });
  });

  test("store.alias_fields: one finding per profile naming the aliases", async () => {
    const sb = withStore({ "anthropic:default": { mode: "api_key", provider: "anthropic", apiKey: S.key }, "openai:default": { type: "apiKey", provider: "openai", key: S.openai } });
    const { findings } = await doctor(sb);
    expect(find(findings, "store.alias_fields", (f) => f.profileId === "anthropic:default")).toMatchObject({ severity: "warn", autoFix: true, message: "anthropic:default uses legacy field names (mode→type, apiKey→key)" });
    expect(find(findings, "store.alias_fields", (f) => f.profileId === "openai:default").message).toBe("openai:default uses legacy field names (type apiKey→api_key)");
  });

  test("store.invalid_entry: names the id and the reason", async () => {
    const sb = withStore({ ...anthropicKeyStore(), "openai:broken": { type: "bogus", provider: "openai" }, "x:y": { type: "api_key", provider: "x", key: 5 } });
    const { findings } = await doctor(sb);
    expect(find(findings, "store.invalid_entry", (f) => f.profileId === "openai:broken")).toMatchObject({
      severity: "error",
      autoFix: false,
      message: 'openai:broken is invalid (invalid_type: type "bogus" is not one of api_key, token, oauth)',
      fix: "fix it in ~/.jarvis/agents/main/agent/auth-profiles.json or jarvis models auth remove openai:broken",
    });
    expect(find(findings, "store.invalid_entry", (f) => f.profileId === "x:y").message).toBe("x:y is invalid (invalid_field: /key: expected string)");
  });

  test("store.oauth_ref: an oauth entry with a SecretRef, and a ref profile whose config mode is oauth", async () => {
    const sb = withStore({
      ...anthropicKeyStore(),
      "openai-codex:me": { type: "oauth", provider: "openai-codex", access: { source: "env", provider: "default", id: "CODEX_ACCESS" }, expires: Date.now() + DAY },
      "anthropic:ref": { type: "token", provider: "anthropic", tokenRef: { source: "env", provider: "default", id: "ANTH_TOKEN" } },
    });
    sb.writeConfig({ auth: { profiles: { "anthropic:ref": { provider: "anthropic", mode: "oauth" } } } });
    const { findings } = await doctor(sb, { env: { ANTH_TOKEN: S.token } });
    expect(find(findings, "store.oauth_ref", (f) => f.profileId === "openai-codex:me")).toMatchObject({ severity: "error", autoFix: false });
    expect(find(findings, "store.oauth_ref", (f) => f.profileId === "anthropic:ref")).toMatchObject({ severity: "error", autoFix: false, message: "anthropic:ref uses a SecretRef but auth.profiles.anthropic:ref.mode is oauth; OAuth credentials must be stored inline" });
    expect(findings.some((f) => f.code === "store.invalid_entry")).toBe(false);
  });

  test("store.expires_seconds (auto ×1000) and store.expires_invalid (manual)", async () => {
    const sb = withStore({
      ...anthropicKeyStore(),
      "anthropic:manual": { type: "token", provider: "anthropic", token: S.token, expires: 1_900_000_000 },
      "groq:manual": { type: "token", provider: "groq", token: S.other, expires: "tomorrow" },
      "groq:tiny": { type: "token", provider: "groq", token: S.other, expires: 12345 },
    });
    const { findings } = await doctor(sb);
    expect(find(findings, "store.expires_seconds")).toMatchObject({ severity: "error", autoFix: true, profileId: "anthropic:manual", message: "anthropic:manual has expires 1900000000, which looks like seconds; expected epoch milliseconds" });
    expect(find(findings, "store.expires_invalid", (f) => f.profileId === "groq:manual")).toMatchObject({
      severity: "error",
      autoFix: false,
      message: 'groq:manual has an invalid expires ("tomorrow"); expected epoch milliseconds',
      fix: "jarvis models auth paste-token --provider groq --profile-id groq:manual --expires-in <dur>",
    });
    expect(find(findings, "store.expires_invalid", (f) => f.profileId === "groq:tiny").severity).toBe("error");
  });

  test("store.plaintext_and_ref: warn, auto", async () => {
    const sb = withStore({ "anthropic:default": { type: "api_key", provider: "anthropic", key: S.other, keyRef: { source: "env", provider: "default", id: "ANTHROPIC_API_KEY" } } });
    const f = find((await doctor(sb, { env: { ANTHROPIC_API_KEY: S.key } })).findings, "store.plaintext_and_ref");
    expect(f).toMatchObject({ severity: "warn", autoFix: true, profileId: "anthropic:default", message: "anthropic:default has both key and keyRef; the ref wins, so the plaintext copy is unused" });
  });

  test("store.order_dangling: unknown and other-provider ids", async () => {
    const sb = withStore({ ...anthropicKeyStore(), "openai:default": { type: "api_key", provider: "openai", key: S.openai } }, { order: { anthropic: ["anthropic:default", "gone:1", "openai:default"] } });
    expect(find((await doctor(sb)).findings, "store.order_dangling")).toMatchObject({ severity: "warn", autoFix: true, provider: "anthropic", message: "order.anthropic lists gone:1, openai:default (not in the store or of another provider)" });
  });

  test("store.id_provider_mismatch: info", async () => {
    const sb = withStore({ ...anthropicKeyStore(), "openai:work": { type: "api_key", provider: "groq", key: S.other } });
    expect(find((await doctor(sb)).findings, "store.id_provider_mismatch")).toMatchObject({ severity: "info", autoFix: false, profileId: "openai:work", provider: "groq" });
  });

  test("legacy.auth_json and legacy.oauth_json: warn, auto", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.write(path.join(sb.agentDir, "auth.json"), { groq: { apiKey: S.other } });
    sb.write(path.join(sb.state, "credentials", "oauth.json"), { "openai-codex": { access: S.access, refresh: S.refresh, expires: Date.now() + DAY } });
    const { findings } = await doctor(sb);
    expect(find(findings, "legacy.auth_json")).toMatchObject({ severity: "warn", autoFix: true, path: path.join(sb.agentDir, "auth.json") });
    expect(find(findings, "legacy.oauth_json")).toMatchObject({ severity: "warn", autoFix: true, path: path.join(sb.state, "credentials", "oauth.json") });
  });
});

describe("auth health", () => {
  test("auth.expired: fix per 04 §8 (setup-token for anthropic :manual, paste-token otherwise)", async () => {
    const sb = withStore({
      ...anthropicKeyStore(),
      "anthropic:manual": { type: "token", provider: "anthropic", token: S.token, expires: Date.now() - 3 * H },
      "groq:manual": { type: "token", provider: "groq", token: S.other, expires: Date.now() - 2 * DAY },
    });
    const { code, findings } = await doctor(sb);
    expect(code).toBe(1);
    expect(find(findings, "auth.expired", (f) => f.profileId === "anthropic:manual")).toEqual({
      code: "auth.expired",
      severity: "error",
      message: "anthropic:manual expired 3h ago",
      provider: "anthropic",
      profileId: "anthropic:manual",
      fix: "jarvis models auth setup-token --provider anthropic",
      autoFix: false,
    });
    expect(find(findings, "auth.expired", (f) => f.profileId === "groq:manual").fix).toBe("jarvis models auth paste-token --provider groq --profile-id groq:manual");
  });

  test("auth.expired_refreshable: warn, auto (refresh)", async () => {
    const sb = withStore({ ...anthropicKeyStore(), "openai-codex:me": { type: "oauth", provider: "openai-codex", access: S.access, refresh: S.refresh, expires: Date.now() - H } });
    expect(find((await doctor(sb)).findings, "auth.expired_refreshable")).toMatchObject({ severity: "warn", autoFix: true, fix: "jarvis models auth refresh --profile-id openai-codex:me" });
  });

  test("auth.expiring: within 24 h, with the renew command", async () => {
    const sb = withStore({ ...anthropicKeyStore(), "groq:manual": { type: "token", provider: "groq", token: S.other, expires: Date.now() + 5 * H } });
    expect(find((await doctor(sb)).findings, "auth.expiring")).toMatchObject({ severity: "warn", message: "groq:manual expires in 5h", fix: "jarvis models auth paste-token --provider groq --profile-id groq:manual" });
  });

  test("auth.relogin_required: login command", async () => {
    const sb = withStore(
      { ...anthropicKeyStore(), "openai-codex:me": { type: "oauth", provider: "openai-codex", access: S.access, refresh: S.refresh, expires: Date.now() + 2 * DAY } },
      { usageStats: { "openai-codex:me": { needsRelogin: { reason: "invalid_grant", at: Date.now() - MIN } } } },
    );
    const f = find((await doctor(sb)).findings, "auth.relogin_required");
    expect(f).toMatchObject({ severity: "error", fix: "jarvis models auth login --provider openai-codex --profile-id openai-codex:me", autoFix: false });
  });

  test("auth.missing_credential: a profile without key/token/access", async () => {
    const sb = withStore({ ...anthropicKeyStore(), "groq:empty": { type: "api_key", provider: "groq" } });
    const f = find((await doctor(sb)).findings, "auth.missing_credential");
    expect(f).toMatchObject({ severity: "error", profileId: "groq:empty", message: "groq:empty has no credential (no key or keyRef)" });
    expect(f.fix).toContain("jarvis models auth remove groq:empty");
  });

  test("auth.unresolved_ref: profile env ref and a failing exec provider (names id, ref, alias, cause; never the resolver's stderr); --skip-exec", async () => {
    const sb = withStore({ ...anthropicKeyStore(), "openai:work": { type: "api_key", provider: "openai", keyRef: { source: "env", provider: "default", id: "OPENAI_WORK_KEY" } } });
    const vault = writeScript(sb, "bin/vault", `echo "${S.resolver}" >&2\necho "${S.resolver}"\nexit 3`);
    sb.writeConfig({
      secrets: { providers: { vault: { source: "exec", command: vault } } },
      models: { providers: { groq: { apiKey: { source: "exec", provider: "vault", id: "groq/key" } } } },
    });
    const { code, findings } = await doctor(sb);
    expect(code).toBe(1);
    expect(find(findings, "auth.unresolved_ref", (f) => f.profileId === "openai:work")).toMatchObject({
      severity: "error",
      provider: "openai",
      message: 'openai:work: ref(env:OPENAI_WORK_KEY) (secret provider "default") cannot be resolved: Environment variable "OPENAI_WORK_KEY" is missing or empty.',
    });
    expect(find(findings, "auth.unresolved_ref", (f) => f.provider === "groq")).toMatchObject({
      severity: "error",
      path: sb.configPath,
      message: 'models.providers.groq.apiKey: ref(exec:groq/key) (secret provider "vault") cannot be resolved: Exec provider "vault" exited with code 3.',
    });
    const skipped = await doctor(sb, { args: ["--skip-exec"] });
    expect(skipped.findings.some((f) => f.code === "auth.unresolved_ref" && f.provider === "groq")).toBe(false);
  });

  test("auth.unresolved_ref: config refs beyond models.providers.*.apiKey (gateway token, header, OAuth clientSecret), as secrets audit finds them", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.writeConfig({
      gateway: { bind: "lan", auth: { token: "${GW_TOKEN}" } },
      models: { providers: { openai: { headers: { "X-Other": { source: "env", provider: "default", id: "NOPE" } } } } },
      auth: { oauth: { fake: { clientId: "client-test", clientSecret: { source: "env", provider: "default", id: "FAKE_SECRET" } } } },
    });
    const { code, findings } = await doctor(sb);
    expect(code).toBe(1);
    const missing = (name: string) => `cannot be resolved: Environment variable "${name}" is missing or empty.`;
    expect(findings.filter((f) => f.code === "auth.unresolved_ref")).toEqual([
      {
        code: "auth.unresolved_ref",
        severity: "error",
        message: `models.providers.openai.headers.X-Other: ref(env:NOPE) (secret provider "default") ${missing("NOPE")}`,
        path: sb.configPath,
        provider: "openai",
        fix: "make ref(env:NOPE) resolvable, or fix models.providers.openai.headers.X-Other",
        autoFix: false,
      },
      {
        code: "auth.unresolved_ref",
        severity: "error",
        message: `gateway.auth.token: ref(env:GW_TOKEN) (secret provider "default") ${missing("GW_TOKEN")}`,
        path: sb.configPath,
        fix: "make ref(env:GW_TOKEN) resolvable, or fix gateway.auth.token",
        autoFix: false,
      },
      {
        code: "auth.unresolved_ref",
        severity: "error",
        message: `auth.oauth.fake.clientSecret: ref(env:FAKE_SECRET) (secret provider "default") ${missing("FAKE_SECRET")}`,
        path: sb.configPath,
        provider: "fake",
        fix: "make ref(env:FAKE_SECRET) resolvable, or fix auth.oauth.fake.clientSecret",
        autoFix: false,
      },
    ]);
    // The same sites secrets audit reports (one enumeration).
    const audit = await sb.run(["secrets", "audit", "--json"]);
    const unresolved = JSON.parse(audit.stdout).findings.filter((f: any) => f.code === "REF_UNRESOLVED").map((f: any) => f.jsonPath);
    expect(unresolved.sort()).toEqual(["auth.oauth.fake.clientSecret", "gateway.auth.token", "models.providers.openai.headers.X-Other"]);
    // Resolvable refs: no finding (and the values never appear in the output — doctor() scans for them).
    const ok = await doctor(sb, { env: { GW_TOKEN: S.gateway, NOPE: S.header, FAKE_SECRET: S.clientSecret } });
    expect(ok.findings.filter((f) => f.code === "auth.unresolved_ref")).toEqual([]);
    expect(ok.code).toBe(0);
  });

  test("auth.provider_missing: hint per 04 §8", async () => {
    const sb = home();
    sb.writeConfig({ agents: { defaults: { model: { primary: "groq/llama-3.1-8b-instant" } } } });
    expect(find((await doctor(sb)).findings, "auth.provider_missing")).toEqual({
      code: "auth.provider_missing",
      severity: "error",
      message: "groq is in use but has no credential",
      provider: "groq",
      fix: "Set GROQ_API_KEY in ~/.jarvis/.env, or run `jarvis models auth paste-token --provider groq`.",
      autoFix: false,
    });
  });

  test("auth.cooldown (info) and auth.disabled (warn) with their exact fix texts", async () => {
    const until = Date.now() + 20 * MIN;
    const iso = new Date(until).toISOString().replace(/\.\d{3}Z$/, "Z");
    const sb = withStore(
      { ...anthropicKeyStore(), "anthropic:b": { type: "api_key", provider: "anthropic", key: S.other } },
      { usageStats: { "anthropic:default": { cooldownUntil: until, cooldownReason: "rate_limit", errorCount: 1 }, "anthropic:b": { disabledUntil: until, disabledReason: "billing", errorCount: 1 } } },
    );
    const { findings } = await doctor(sb);
    expect(find(findings, "auth.cooldown")).toMatchObject({ severity: "info", profileId: "anthropic:default", fix: `wait until ${iso}, or verify now: jarvis models status --probe --probe-profile anthropic:default` });
    expect(find(findings, "auth.disabled")).toMatchObject({ severity: "warn", profileId: "anthropic:b", fix: "top up credits or fix the key, then verify: jarvis models status --probe --probe-profile anthropic:b" });
  });
});

describe("env", () => {
  test("env.process_only: a key only in the process env or ./.env; a daemon will not see it", async () => {
    const sb = home();
    const shell = find((await doctor(sb, { env: { ANTHROPIC_API_KEY: S.key } })).findings, "env.process_only");
    expect(shell).toEqual({
      code: "env.process_only",
      severity: "warn",
      message: "anthropic: ANTHROPIC_API_KEY comes only from this shell; a daemon will not see it",
      provider: "anthropic",
      fix: "jarvis onboard --non-interactive --auth-choice anthropic-api-key --store env",
      autoFix: false,
    });
    const cwd = scratchDir();
    fs.writeFileSync(path.join(cwd, ".env"), `ANTHROPIC_API_KEY=${S.key}\n`);
    const dot = find((await doctor(sb, { cwd })).findings, "env.process_only");
    expect(dot.message).toBe("anthropic: ANTHROPIC_API_KEY comes only from ./.env in the current directory; a daemon will not see it");
    // The same key in ~/.jarvis/.env as well: the daemon sees it, no finding.
    sb.write(path.join(sb.state, ".env"), `ANTHROPIC_API_KEY=${S.key}\n`);
    expect((await doctor(sb, { env: { ANTHROPIC_API_KEY: S.key } })).findings.some((f) => f.code === "env.process_only")).toBe(false);
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  test("env.shadowed: an env key that differs from the winning profile", async () => {
    const sb = withStore(anthropicKeyStore());
    const { findings } = await doctor(sb, { env: { ANTHROPIC_API_KEY: S.other } });
    expect(find(findings, "env.shadowed")).toEqual({
      code: "env.shadowed",
      severity: "warn",
      message: "anthropic: ANTHROPIC_API_KEY (env) differs from auth profile anthropic:default, which wins over it",
      provider: "anthropic",
      profileId: "anthropic:default",
      fix: "update the profile (jarvis models auth paste-token --provider anthropic --profile-id anthropic:default) or remove it (jarvis models auth remove anthropic:default)",
      autoFix: false,
    });
    expect((await doctor(sb, { env: { ANTHROPIC_API_KEY: S.key } })).findings.some((f) => f.code === "env.shadowed")).toBe(false);
  });

  test("env.invalid_value: names the var, its origin and the position", async () => {
    const sb = withStore(anthropicKeyStore());
    sb.write(path.join(sb.state, ".env"), "OPENAI_API_KEY=\u201csk-TESTFAKE-curly-0123456789\u201d\n");
    const f = find((await doctor(sb)).findings, "env.invalid_value");
    expect(f).toMatchObject({ severity: "error", message: "OPENAI_API_KEY from ~/.jarvis/.env is not used: OPENAI_API_KEY contains U+201C at position 1 (curly quotes usually come from copying out of a document or chat)" });
  });
});

describe("output", () => {
  test("text: header, errors first, fix lines, summary with the repair count", async () => {
    const sb = withStore({ ...anthropicKeyStore(), "anthropic:manual": { type: "token", provider: "anthropic", token: S.token, expires: Date.now() - 3 * H } });
    sb.writeConfig({});
    fs.chmodSync(sb.configPath, 0o644);
    const r = await runRO(sb, ["doctor"], { env: { OPENAI_API_KEY: S.openai }, secrets: SECRETS });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      [
        "jarvis doctor — agent main (~/.jarvis/agents/main/agent)",
        "ERROR  auth.expired            anthropic:manual expired 3h ago",
        "       fix: jarvis models auth setup-token --provider anthropic",
        "WARN   fs.config.perms         ~/.jarvis/jarvis.json is readable by group/others (0644)",
        "       fix: chmod 600 ~/.jarvis/jarvis.json  (automatic with --fix)",
        "Summary: 1 error, 1 warning, 0 info. 1 automatic repair available: jarvis doctor --fix",
        "",
      ].join("\n"),
    );
  });

  test("--non-interactive and --yes change nothing; --agent picks the agent; unknown --agent is 64", async () => {
    const sb = withStore(anthropicKeyStore());
    const a = await doctor(sb, { args: ["--non-interactive", "--yes"] });
    expect(a.code).toBe(0);
    expect(a.doc).toMatchObject({ ok: true, agentId: "main", agentDir: sb.agentDir, fixApplied: false, summary: { error: 0, warn: 0, info: 0, fixed: 0 }, findings: [] });
    const r = await sb.run(["doctor", "--agent", "nope"]);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
  });
});

