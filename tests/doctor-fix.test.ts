// `jarvis doctor --fix` end to end (spec 09 §1.2): each repair (fixture in → repaired file + timestamped backup out),
// lossless migrations, idempotence (a second --fix writes nothing), read-only without --fix, a wrecked state dir, the
// OAuth refresh repair against a fake token endpoint, and the daemon case (`env.process_only` → onboard → `env -i`).
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { startFakeOAuth } from "./fake-oauth.ts";
import { freePort } from "./gateway-helpers.ts";
import { JARVIS, backdateTree, cleanupSandboxes, expectNoSecrets, fake, json, sandbox, snapshotTree, writeScript, type RunResult, type Sandbox } from "./helpers.ts";
import { DAY, H, fakeSecret, runRO } from "./status-helpers.ts";

afterAll(cleanupSandboxes);

const S = {
  key: fake.anthropicKey,
  token: fake.anthropicToken,
  openai: fake.openaiKey,
  groq: fake.groq(7),
  plain: fakeSecret("plain-", 30, "PLN1"),
  access: fakeSecret("acc-", 40, "ACCS"),
  refresh: fakeSecret("ref-", 40, "REFR"),
  idToken: fakeSecret("idt-", 40, "IDTK"),
  legacyAccess: fakeSecret("lacc-", 40, "LACC"),
  resolver: fakeSecret("vault-", 30, "VLT2"),
};
const SECRETS = Object.values(S);
const BACKUP = /\.bak-\d{8}T\d{6}Z$/;

async function run(sb: Sandbox, args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  const r = await sb.run(args, { env });
  expectNoSecrets(r, SECRETS);
  expect(r.stderr).not.toMatch(/\n\s+at |unexpected failure|TypeError|ReferenceError/);
  return r;
}
const fix = async (sb: Sandbox, env: Record<string, string | undefined> = {}, flag = "--fix") => {
  const r = await run(sb, ["doctor", flag, "--json"], env);
  return { code: r.code, doc: json(r), findings: json(r).findings as any[] };
};

function home(): Sandbox {
  const sb = sandbox();
  fs.mkdirSync(sb.agentDir, { recursive: true, mode: 0o700 });
  for (let d = sb.agentDir; d !== sb.home; d = path.dirname(d)) fs.chmodSync(d, 0o700);
  return sb;
}

/** Backups of `file` (`<file>.bak-<YYYYMMDDTHHMMSSZ>`). */
function backupsOf(file: string): string[] {
  return fs.readdirSync(path.dirname(file)).filter((n) => n.startsWith(path.basename(file) + ".bak-")).map((n) => path.join(path.dirname(file), n));
}
const mode = (p: string) => fs.statSync(p).mode & 0o777;
const byCode = (findings: any[], code: string) => findings.filter((f) => f.code === code);

describe("store migrations", () => {
  test("legacy flat store → v1, lossless (refs, clientId, idToken, accountId, metadata, unknown fields), backup of the original bytes", async () => {
    const sb = home();
    const original =
      "{\n" +
      `  "anthropic": {"mode": "api_key", "apiKey": "${S.key}", "metadata": {"team": "core"}, "note": "mine"},\n` +
      `  "anthropic:manual": {"type": "token", "provider": "anthropic", "tokenRef": {"source": "env", "provider": "default", "id": "ANTH_TOKEN"}, "x-extra": [1, 2]},\n` +
      `  "openai:work": {"type": "apiKey", "provider": "openai", "key": "${S.plain}", "keyRef": {"source": "env", "provider": "default", "id": "OPENAI_WORK"}},\n` +
      `  "openai-codex:me": {"type": "oauth", "provider": "openai-codex", "access": "${S.access}", "refresh": "${S.refresh}", "expires": 1900000000, "clientId": "cid-1", "idToken": "${S.idToken}", "accountId": "acct-1", "email": "me@example.com", "custom": {"a": null}}\n` +
      "}\n";
    sb.writeStore(original);
    const { code, doc, findings } = await fix(sb, { ANTH_TOKEN: S.token, OPENAI_WORK: S.openai });
    expect(sb.readStore()).toEqual({
      version: 1,
      profiles: {
        "anthropic:default": { provider: "anthropic", type: "api_key", key: S.key, metadata: { team: "core" }, note: "mine" },
        "anthropic:manual": { type: "token", provider: "anthropic", tokenRef: { source: "env", provider: "default", id: "ANTH_TOKEN" }, "x-extra": [1, 2] },
        "openai:work": { type: "api_key", provider: "openai", keyRef: { source: "env", provider: "default", id: "OPENAI_WORK" } },
        "openai-codex:me": { type: "oauth", provider: "openai-codex", access: S.access, refresh: S.refresh, expires: 1_900_000_000_000, clientId: "cid-1", idToken: S.idToken, accountId: "acct-1", email: "me@example.com", custom: { a: null } },
      },
    });
    // Field order of each entry is kept (renamed in place).
    expect(Object.keys(sb.readStore().profiles["anthropic:default"])).toEqual(["provider", "type", "key", "metadata", "note"]);
    expect(mode(sb.storePath)).toBe(0o600);
    const backups = backupsOf(sb.storePath);
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatch(BACKUP);
    expect(fs.readFileSync(backups[0]!, "utf8")).toBe(original);
    expect(mode(backups[0]!)).toBe(0o600);
    for (const c of ["store.legacy_flat", "store.expires_seconds", "store.plaintext_and_ref"]) {
      expect(byCode(findings, c)[0]).toMatchObject({ fixed: true, backup: backups[0] });
    }
    expect(doc.fixApplied).toBe(true);
    expect(code).toBe(0);
  });

  test("v1 store: aliases canonicalised, seconds ×1000, plaintext dropped next to a ref, dangling order ids removed; other keys kept", async () => {
    const sb = home();
    sb.writeStore({
      version: 1,
      profiles: {
        "anthropic:default": { mode: "api_key", provider: "anthropic", apiKey: S.key, keyRef: "not-a-ref" },
        "anthropic:manual": { type: "token", provider: "anthropic", token: S.token, expires: 1_900_000_000 },
        "groq:a": { type: "api-key", provider: "groq", key: S.groq },
      },
      order: { anthropic: ["anthropic:manual", "anthropic:gone", "groq:a"], groq: ["nope:1"] },
      lastGood: { anthropic: "anthropic:manual" },
      usageStats: { "groq:a": { lastUsed: 5 } },
      future: { keep: true },
    });
    const { code, findings } = await fix(sb);
    const store = sb.readStore();
    expect(store).toEqual({
      version: 1,
      profiles: {
        "anthropic:default": { type: "api_key", provider: "anthropic", key: S.key, keyRef: "not-a-ref" },
        "anthropic:manual": { type: "token", provider: "anthropic", token: S.token, expires: 1_900_000_000_000 },
        "groq:a": { type: "api_key", provider: "groq", key: S.groq },
      },
      order: { anthropic: ["anthropic:manual"] },
      lastGood: { anthropic: "anthropic:manual" },
      usageStats: { "groq:a": { lastUsed: 5 } },
      future: { keep: true },
    });
    expect(byCode(findings, "store.alias_fields").map((f) => [f.profileId, f.fixed])).toEqual([
      ["anthropic:default", true],
      ["groq:a", true],
    ]);
    expect(byCode(findings, "store.order_dangling").every((f) => f.fixed && BACKUP.test(f.backup))).toBe(true);
    // The invalid keyRef is an unresolved ref, not something doctor can repair.
    expect(byCode(findings, "auth.unresolved_ref")).toHaveLength(1);
    expect(code).toBe(1);
  });

  test("an invalid store is never rewritten by --fix", async () => {
    const sb = home();
    const text = '{"version": 1, "profiles": {"anthropic:default": {"type": "api_key", "provider": "anthropic", "key": "' + S.key + '"}\n';
    sb.writeStore(text);
    const { code, findings } = await fix(sb);
    expect(code).toBe(1);
    expect(byCode(findings, "store.parse_error")[0]).toMatchObject({ severity: "error", autoFix: false });
    expect(byCode(findings, "store.parse_error")[0].fixed).toBeUndefined();
    expect(fs.readFileSync(sb.storePath, "utf8")).toBe(text);
    expect(backupsOf(sb.storePath)).toEqual([]);
  });
});

describe("legacy files", () => {
  test("auth.json and credentials/oauth.json imported as <provider>:default where free, verified, renamed .migrated-<ts>", async () => {
    const sb = home();
    sb.writeStore({ version: 1, profiles: { "anthropic:default": { type: "api_key", provider: "anthropic", key: S.key } } });
    const authJson = sb.write(path.join(sb.agentDir, "auth.json"), {
      anthropic: { type: "api_key", key: S.plain },
      groq: { apiKey: S.groq, metadata: { from: "old" } },
    });
    const expires = Date.now() + 2 * DAY;
    const oauthJson = sb.write(path.join(sb.state, "credentials", "oauth.json"), {
      "openai-codex": { access: S.legacyAccess, refresh: S.refresh, expires, email: "me@example.com", accountId: "acct-9" },
    });
    const { findings } = await fix(sb);
    const store = sb.readStore();
    expect(store.profiles).toEqual({
      "anthropic:default": { type: "api_key", provider: "anthropic", key: S.key },
      "groq:default": { type: "api_key", key: S.groq, metadata: { from: "old" }, provider: "groq" },
      "openai-codex:default": { type: "oauth", access: S.legacyAccess, refresh: S.refresh, expires, email: "me@example.com", accountId: "acct-9", provider: "openai-codex" },
    });
    expect(fs.existsSync(authJson)).toBe(false);
    expect(fs.existsSync(oauthJson)).toBe(false);
    const migrated = (dir: string, name: string) => fs.readdirSync(dir).filter((n) => new RegExp(`^${name}\\.migrated-\\d{8}T\\d{6}Z$`).test(n));
    expect(migrated(sb.agentDir, "auth.json")).toHaveLength(1);
    expect(migrated(path.join(sb.state, "credentials"), "oauth.json")).toHaveLength(1);
    const backups = backupsOf(sb.storePath);
    expect(backups).toHaveLength(1);
    expect(JSON.parse(fs.readFileSync(backups[0]!, "utf8")).profiles).toEqual({ "anthropic:default": { type: "api_key", provider: "anthropic", key: S.key } });
    expect(byCode(findings, "legacy.auth_json")[0]).toMatchObject({ fixed: true, backup: backups[0] });
    expect(byCode(findings, "legacy.oauth_json")[0]).toMatchObject({ fixed: true, backup: backups[0] });
  });
});

describe("config, permissions, locks, temp files", () => {
  test("config.order_dangling and config.mode_mismatch: edited under the config lock, timestamped backup of the original bytes", async () => {
    const sb = home();
    sb.writeStore({ version: 1, profiles: { "anthropic:default": { type: "api_key", provider: "anthropic", key: S.key }, "openai:default": { type: "api_key", provider: "openai", key: S.openai } } });
    const original = '// mine\n{ auth: { order: { anthropic: ["anthropic:default", "anthropic:gone"], openai: ["gone:2"] }, profiles: { "openai:default": { provider: "openai", mode: "token", email: "x@y" } } }, other: 1 }\n';
    sb.writeConfig(original);
    const { findings } = await fix(sb);
    expect(JSON.parse(fs.readFileSync(sb.configPath, "utf8"))).toEqual({
      auth: { order: { anthropic: ["anthropic:default"] }, profiles: { "openai:default": { provider: "openai", mode: "api_key", email: "x@y" } } },
      other: 1,
    });
    const backups = backupsOf(sb.configPath).filter((p) => BACKUP.test(p));
    expect(backups).toHaveLength(1);
    expect(fs.readFileSync(backups[0]!, "utf8")).toBe(original);
    expect(fs.readFileSync(`${sb.configPath}.bak`, "utf8")).toBe(original); // 01 §4 rule 4
    expect(byCode(findings, "config.order_dangling").every((f) => f.fixed && f.backup === backups[0])).toBe(true);
    expect(byCode(findings, "config.mode_mismatch")[0]).toMatchObject({ fixed: true, backup: backups[0] });
    expect(mode(sb.configPath)).toBe(0o600);
  });

  test("permissions tightened (no backup); stale locks and old temp files removed; a live lock is kept (--repair = --fix)", async () => {
    const sb = home();
    sb.writeStore({ version: 1, profiles: { "anthropic:default": { type: "api_key", provider: "anthropic", key: S.key } } });
    sb.writeConfig({});
    sb.write(path.join(sb.state, ".env"), "# empty\n");
    fs.chmodSync(sb.state, 0o755);
    fs.chmodSync(sb.agentDir, 0o775);
    fs.chmodSync(sb.storePath, 0o644);
    fs.chmodSync(sb.configPath, 0o640);
    fs.chmodSync(path.join(sb.state, ".env"), 0o604);
    const stale = sb.write(`${sb.storePath}.lock`, JSON.stringify({ pid: 2 ** 22 + 9, createdAt: Date.now() }));
    const live = sb.write(`${sb.configPath}.lock`, JSON.stringify({ pid: process.pid, createdAt: Date.now() }));
    const tmp = sb.write(`${sb.storePath}.77.deadbeef.tmp`, "{}");
    fs.utimesSync(tmp, new Date(Date.now() - H), new Date(Date.now() - H));
    const { code, findings } = await fix(sb, {}, "--repair");
    expect(code).toBe(0);
    expect([mode(sb.state), mode(sb.agentDir), mode(sb.storePath), mode(sb.configPath), mode(path.join(sb.state, ".env"))]).toEqual([0o700, 0o700, 0o600, 0o600, 0o600]);
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(tmp)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
    for (const c of ["fs.state_dir.perms", "fs.agent_dir.perms", "fs.store.perms", "fs.config.perms", "fs.dotenv.perms", "lock.stale", "tmp.leftover"]) {
      const f = byCode(findings, c)[0];
      expect(f).toMatchObject({ code: c, fixed: true });
      expect(f.backup).toBeUndefined();
    }
    expect(backupsOf(sb.storePath)).toEqual([]);
  });
});

describe("OAuth refresh repair", () => {
  test("an expired refreshable profile is refreshed once; a second --fix makes no request", async () => {
    const oauth = startFakeOAuth();
    try {
      const sb = home();
      const refresh = oauth.issueRefresh();
      sb.writeConfig({ auth: { oauth: { "openai-codex": { clientId: "client-test", authorizeUrl: oauth.authorizeUrl, tokenUrl: oauth.tokenUrl } } } });
      sb.writeStore({
        version: 1,
        profiles: {
          "anthropic:default": { type: "api_key", provider: "anthropic", key: S.key },
          "openai-codex:me": { type: "oauth", provider: "openai-codex", access: S.access, refresh, expires: Date.now() - H, note: "keep" },
        },
      });
      const first = await fix(sb);
      expect(oauth.tokenRequests.map((r) => [r.grant_type, r.refresh_token, r.client_id])).toEqual([["refresh_token", refresh, "client-test"]]);
      const p = sb.readStore().profiles["openai-codex:me"];
      expect(p.access).not.toBe(S.access);
      expect(p.expires).toBeGreaterThan(Date.now());
      expect(p.note).toBe("keep");
      expect(byCode(first.findings, "auth.expired_refreshable")[0]).toMatchObject({ fixed: true });
      expect(byCode(first.findings, "auth.expired_refreshable")[0].backup).toMatch(BACKUP);
      expect(first.code).toBe(0);
      const second = await fix(sb);
      expect(oauth.tokenRequests).toHaveLength(1);
      expect(second.doc.fixApplied).toBe(false);
    } finally {
      oauth.stop();
    }
  });

  test("a rejected refresh stays a finding (relogin required), exit 1", async () => {
    const oauth = startFakeOAuth();
    try {
      const sb = home();
      sb.writeConfig({ auth: { oauth: { "openai-codex": { clientId: "client-test", authorizeUrl: oauth.authorizeUrl, tokenUrl: oauth.tokenUrl } } } });
      sb.writeStore({ version: 1, profiles: { "anthropic:default": { type: "api_key", provider: "anthropic", key: S.key }, "openai-codex:me": { type: "oauth", provider: "openai-codex", access: S.access, refresh: S.refresh, expires: Date.now() - H } } });
      const r = await fix(sb);
      expect(r.code).toBe(1);
      expect(byCode(r.findings, "auth.expired_refreshable")[0].fixed).toBeUndefined();
      expect(byCode(r.findings, "auth.relogin_required")[0]).toMatchObject({ severity: "error", profileId: "openai-codex:me" });
      // The rejection was written to the store (needsRelogin), so a backup was taken and the finding names it.
      const backups = backupsOf(sb.storePath);
      expect(backups).toHaveLength(1);
      expect(byCode(r.findings, "auth.expired_refreshable")[0].backup).toBe(backups[0]);
    } finally {
      oauth.stop();
    }
  });

  test("a refresh that cannot run (no OAuth provider configured) stays a finding; no backup, and a repeat --fix writes nothing", async () => {
    const sb = home();
    sb.writeStore({ version: 1, profiles: { "openai-codex:me": { type: "oauth", provider: "openai-codex", access: S.access, refresh: S.refresh, expires: 1_000_000_000_000 } } });
    backdateTree(sb.home);
    const before = snapshotTree(sb.home);
    for (let i = 0; i < 2; i++) {
      const r = await fix(sb);
      expect(snapshotTree(sb.home)).toEqual(before);
      const f = byCode(r.findings, "auth.expired_refreshable")[0];
      expect(f).toMatchObject({ severity: "warn", profileId: "openai-codex:me", autoFix: true });
      expect([f.fixed, f.backup]).toEqual([undefined, undefined]);
      expect(r.doc.fixApplied).toBe(false);
    }
  });

  test("a refresh that fails without changing the store (token endpoint unreachable) leaves no backup behind", async () => {
    const sb = home();
    const tokenUrl = `http://127.0.0.1:${await freePort()}/token`;
    sb.writeConfig({ auth: { oauth: { "openai-codex": { clientId: "client-test", authorizeUrl: tokenUrl, tokenUrl } } } });
    sb.writeStore({ version: 1, profiles: { "openai-codex:me": { type: "oauth", provider: "openai-codex", access: S.access, refresh: S.refresh, expires: Date.now() - H } } });
    const bytes = fs.readFileSync(sb.storePath, "utf8");
    const names = fs.readdirSync(sb.agentDir).sort();
    for (let i = 0; i < 2; i++) {
      const r = await fix(sb);
      const f = byCode(r.findings, "auth.expired_refreshable")[0];
      expect([f.fixed, f.backup]).toEqual([undefined, undefined]);
      expect(fs.readFileSync(sb.storePath, "utf8")).toBe(bytes);
      expect(fs.readdirSync(sb.agentDir).sort()).toEqual(names);
    }
  });
});

/** A state with one of nearly every auto-fixable problem. */
function messy(): Sandbox {
  const sb = home();
  sb.writeStore({ anthropic: { mode: "api_key", apiKey: S.key }, "groq:x": { type: "token", provider: "groq", token: S.groq, expires: 1_900_000_000 } });
  sb.write(path.join(sb.agentDir, "auth.json"), { openai: { key: S.openai } });
  sb.writeConfig({ auth: { order: { anthropic: ["anthropic:default", "anthropic:none"] } } });
  fs.chmodSync(sb.configPath, 0o644);
  fs.chmodSync(sb.state, 0o751);
  const lock = sb.write(`${sb.storePath}.lock`, "junk");
  fs.utimesSync(lock, new Date(Date.now() - H), new Date(Date.now() - H));
  return sb;
}

describe("read-only, idempotent, never crashes", () => {
  test("without --fix nothing changes (bytes, modes, mtimes; no lock, no dir)", async () => {
    const sb = messy();
    backdateTree(sb.home);
    for (const args of [["doctor"], ["doctor", "--json"], ["doctor", "--skip-exec", "--yes"]]) {
      const r = await runRO(sb, args, { secrets: SECRETS });
      expect(r.code).toBe(1);
    }
  });

  test("a second --fix right after finds nothing to fix and writes nothing", async () => {
    const sb = messy();
    const first = await fix(sb);
    expect(first.doc.fixApplied).toBe(true);
    expect(first.findings.filter((f) => f.autoFix && !f.fixed)).toEqual([]);
    backdateTree(sb.home);
    const before = snapshotTree(sb.home);
    const second = await fix(sb);
    expect(snapshotTree(sb.home)).toEqual(before);
    expect(second.doc.fixApplied).toBe(false);
    expect(second.doc.summary.fixed).toBe(0);
    expect(second.findings.filter((f) => f.autoFix)).toEqual([]);
    expect(second.code).toBe(0);
  });

  test("a wrecked state dir: findings and exit 1, never a stack trace (text, --json, --fix)", async () => {
    const sb = home();
    const storeText = '{"version": 1, "profiles": {"anthropic:default": {"type": "api_key", "key": "' + S.key + '"';
    sb.writeStore(storeText);
    const vault = writeScript(sb, "bin/vault", `echo "${S.resolver}" >&2\nexit 3`);
    sb.writeConfig(
      `{ gateway: { bind: "lan", port: "nope" }, agents: { defaults: { model: { primary: 7 } } },\n` +
        `  secrets: { providers: { vault: { source: "exec", command: "${vault}" } } },\n` +
        `  models: { providers: { openai: { apiKey: { source: "exec", provider: "vault", id: "openai/key" } }, groq: { apiKey: { source: "env", provider: "default", id: "NOT_SET_ANYWHERE" }, baseUrl: "https://\${NOPE_HOST}/v1" } } },\n` +
        `  auth: { order: { openai: ["openai:ghost"] }, profiles: { "openai:ghost": { provider: "openai", mode: "api_key" } } } }\n`,
    );
    sb.write(`${sb.configPath}.lock`, "\u0000garbage");
    fs.utimesSync(`${sb.configPath}.lock`, new Date(Date.now() - H), new Date(Date.now() - H));
    fs.mkdirSync(path.join(sb.state, ".env"), { mode: 0o700 }); // a directory where the dotenv file should be
    fs.mkdirSync(path.join(sb.state, "credentials"), { mode: 0o700 });
    sb.write(path.join(sb.state, "credentials", "oauth.json"), "{not json");
    const locked = path.join(sb.state, "agents", "main", "sessions");
    fs.mkdirSync(locked, { recursive: true, mode: 0o000 });
    fs.chmodSync(locked, 0o000);

    const text = await run(sb, ["doctor"]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain("ERROR  store.parse_error");
    expect(text.stdout).toContain("ERROR  config.invalid");
    expect(text.stdout).toMatch(/Summary: \d+ errors?, /);
    const j = await run(sb, ["doctor", "--json"]);
    const doc = json(j);
    expect(j.code).toBe(1);
    expect(doc.ok).toBe(false);
    const codes = new Set(doc.findings.map((f: any) => f.code));
    for (const c of ["store.parse_error", "config.invalid", "config.missing_var", "gateway.no_token", "lock.stale", "auth.unresolved_ref", "fs.unreadable", "legacy.oauth_json"]) {
      expect(codes.has(c)).toBe(true);
    }
    expect(doc.findings.find((f: any) => f.code === "auth.unresolved_ref" && f.provider === "openai").message).toContain('Exec provider "vault" exited with code 3.');
    const fixed = await run(sb, ["doctor", "--fix", "--json"]);
    expect(fixed.code).toBe(1);
    expect(json(fixed).ok).toBe(false);
    expect(fs.readFileSync(sb.storePath, "utf8")).toBe(storeText);
    fs.chmodSync(locked, 0o700);
  });
});

/** Run jarvis as an unprivileged user (root reads everything, so unreadable files need another uid). */
async function runUnprivileged(sb: Sandbox, args: string[]): Promise<RunResult> {
  const root = process.getuid?.() === 0;
  if (!root) return sb.run(args);
  const cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", "-i", `HOME=${sb.home}`, "PATH=/usr/bin:/bin", JARVIS, ...args];
  const proc = Bun.spawn(cmd, { cwd: "/", stdout: "pipe", stderr: "pipe", env: {} });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

const canDropPrivileges = process.getuid?.() !== 0 || Bun.spawnSync(["setpriv", "--version"]).exitCode === 0;

describe("unreadable files and dirs", () => {
  test.skipIf(!canDropPrivileges)("an agent dir, a .env and a credentials dir without permissions: findings, exit 1, no stack trace (also with --fix)", async () => {
    const sb = home();
    sb.writeStore({ version: 1, profiles: { "anthropic:default": { type: "api_key", provider: "anthropic", key: S.key } } });
    sb.write(path.join(sb.state, ".env"), `OPENAI_API_KEY=${S.openai}\n`);
    sb.write(path.join(sb.state, "credentials", "oauth.json"), { google: { access: S.access } });
    if (process.getuid?.() === 0) {
      for (const p of [sb.home, ...fs.readdirSync(sb.home, { recursive: true }).map((n) => path.join(sb.home, String(n)))]) fs.chownSync(p, 65534, 65534);
    }
    fs.chmodSync(sb.agentDir, 0o000);
    fs.chmodSync(path.join(sb.state, ".env"), 0o000);
    fs.chmodSync(path.join(sb.state, "credentials"), 0o000);
    try {
      for (const args of [["doctor", "--json"], ["doctor", "--fix", "--json"]]) {
        const r = await runUnprivileged(sb, args);
        expectNoSecrets(r, SECRETS);
        expect(r.stderr).not.toMatch(/\n\s+at |unexpected failure|TypeError/);
        expect(r.code).toBe(1);
        const unreadable = JSON.parse(r.stdout).findings.filter((f: any) => f.code === "fs.unreadable");
        expect(unreadable.find((f: any) => f.path === sb.storePath)).toMatchObject({ severity: "error", message: `cannot read ${sb.storePath} (EACCES)` });
        expect(unreadable.some((f: any) => f.message.includes(".jarvis/.env (EACCES)"))).toBe(true);
      }
      fs.chmodSync(sb.agentDir, 0o700);
      expect(sb.readStore().profiles["anthropic:default"].key).toBe(S.key);
    } finally {
      fs.chmodSync(sb.agentDir, 0o700);
      fs.chmodSync(path.join(sb.state, "credentials"), 0o700);
    }
  });
});

describe("the daemon case (10 §5)", () => {
  test("a key only in the caller's env → env.process_only; after onboard --store env, doctor passes from `env -i` at /", async () => {
    const sb = sandbox();
    const r1 = await run(sb, ["doctor", "--json"], { ANTHROPIC_API_KEY: S.key });
    expect(json(r1).findings.find((f: any) => f.code === "env.process_only")).toMatchObject({
      severity: "warn",
      message: "anthropic: ANTHROPIC_API_KEY comes only from this shell; a daemon will not see it",
      fix: "jarvis onboard --non-interactive --auth-choice anthropic-api-key --store env",
    });
    const ob = await run(sb, ["onboard", "--non-interactive", "--auth-choice", "anthropic-api-key", "--store", "env"], { ANTHROPIC_API_KEY: S.key });
    expect(ob.code).toBe(0);
    expect(ob.stdout).toBe("Stored anthropic credential in ~/.jarvis/.env (ANTHROPIC_API_KEY); verified.\n");
    // A daemon: empty environment but HOME, started from /.
    const proc = Bun.spawn(["env", "-i", `HOME=${sb.home}`, JARVIS, "doctor", "--json"], { cwd: "/", stdout: "pipe", stderr: "pipe", env: {} });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expectNoSecrets({ code, stdout: out, stderr: err }, SECRETS);
    const doc = JSON.parse(out);
    expect(doc.findings.filter((f: any) => f.code === "env.process_only" || f.code === "auth.provider_missing")).toEqual([]);
    expect(code).toBe(0);
    // And from the caller's shell too (the key is in both places now).
    const r2 = await run(sb, ["doctor", "--json"], { ANTHROPIC_API_KEY: S.key });
    expect(json(r2).findings.some((f: any) => f.code === "env.process_only")).toBe(false);
  });

  test("a keyRef profile whose variable only this shell has is the same trap", async () => {
    const sb = sandbox();
    const env = { GROQ_API_KEY: S.groq };
    expect((await run(sb, ["onboard", "--non-interactive", "--auth-choice", "groq-api-key", "--secret-input-mode", "ref", "--set-default"], env)).code).toBe(0);
    const before = json(await run(sb, ["doctor", "--json"], env)).findings.find((f: any) => f.code === "env.process_only");
    expect(before).toMatchObject({ provider: "groq", message: "groq: GROQ_API_KEY comes only from this shell; a daemon will not see it", fix: "jarvis onboard --non-interactive --auth-choice groq-api-key --store env" });
    expect((await run(sb, ["onboard", "--non-interactive", "--auth-choice", "groq-api-key", "--store", "env"], env)).code).toBe(0);
    const daemon = await run(sb, ["doctor", "--json"]);
    expect(json(daemon).findings.filter((f: any) => f.severity !== "info")).toEqual([]);
    expect(daemon.code).toBe(0);
  });
});
