// `jarvis models status` end to end: what the auth store holds (spec 03 §1–§3, §6–§8; 04 §2, §4, §5).
// Every run uses the compiled binary with only HOME and PATH, checks it wrote nothing, and scans its output for
// every fixture secret. Expiry times are relative to the wall clock with margins far larger than a run.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { cleanupSandboxes, fake, sandbox, type Sandbox } from "./helpers.ts";
import { DAY, H, MIN, fakeSecret, healthOf, lineStarting, providerOf, runRO } from "./status-helpers.ts";

afterAll(cleanupSandboxes);

const SECRETS = {
  key: fake.anthropicKey,
  token: fake.anthropicToken,
  openai: fake.openaiKey,
  access: fakeSecret("acc-", 40, "ACCS"),
  refresh: fakeSecret("ref-", 40, "REFR"),
  groqTok: fakeSecret("gtok-", 30, "GTOK"),
};
const ALL = Object.values(SECRETS);

/** A sandbox whose store holds `profiles` (plus any extra top-level keys). */
function withStore(profiles: Record<string, unknown>, extra: Record<string, unknown> = {}): Sandbox {
  const sb = sandbox();
  sb.writeStore({ version: 1, profiles, ...extra });
  return sb;
}
const json = (sb: Sandbox, ...flags: string[]) => runRO(sb, ["models", "status", "--json", ...flags], { secrets: ALL });
const text = (sb: Sandbox, ...flags: string[]) => runRO(sb, ["models", "status", ...flags], { secrets: ALL });

describe("credential types", () => {
  test("api_key: masked label, effective profile, env shadowed, static", async () => {
    const sb = withStore({ "anthropic:default": { type: "api_key", provider: "anthropic", key: SECRETS.key } });
    sb.write(path.join(sb.state, ".env"), `ANTHROPIC_API_KEY=${SECRETS.token}\n`);
    const [j, t] = await Promise.all([json(sb, "--check"), text(sb)]);
    expect(j.code).toBe(0);
    expect(j.doc.auth.storeStatus).toBe("ok");
    expect(providerOf(j.doc, "anthropic")).toEqual({
      provider: "anthropic",
      inUse: true,
      effective: { kind: "profiles", detail: sb.storePath, profileId: "anthropic:default" },
      profiles: { count: 1, oauth: 0, token: 0, apiKey: 1, labels: ["anthropic:default=sk-ant-a…abcd"] },
      env: { value: "sk-ant-o…wxyz", source: "env: ANTHROPIC_API_KEY", origin: "state-dotenv", keyCount: 1, shadowed: true },
    });
    expect(healthOf(j.doc, "anthropic:default")).toEqual({
      profileId: "anthropic:default",
      provider: "anthropic",
      type: "api_key",
      status: "static",
      source: "store",
      label: "anthropic:default",
    });
    expect(j.doc.check.exitCode).toBe(0);
    expect(lineStarting(t.stdout, "- anthropic ")).toBe(
      "- anthropic [in use] effective=profiles:anthropic:default | profiles=1 (oauth=0, token=0, api_key=1) | anthropic:default=sk-ant-a…abcd | env=sk-ant-o…wxyz (shadowed) | source=env: ANTHROPIC_API_KEY (~/.jarvis/.env)",
    );
    expect(t.stdout).toContain("\nOAuth/token status (warn within 24h)\n- none\n");
  });

  test("token: static, ok, expiring and expired with their text lines and check verdicts", async () => {
    const now = Date.now();
    const tokens = {
      "anthropic:static": { type: "token", provider: "anthropic", token: SECRETS.token },
      "groq:ok": { type: "token", provider: "groq", token: SECRETS.groqTok, expires: now + 10 * DAY },
    };
    const expiring = { "groq:soon": { type: "token", provider: "groq", token: SECRETS.groqTok + "2", expires: now + 5 * H } };
    const expired = { "groq:old": { type: "token", provider: "groq", token: SECRETS.groqTok + "3", expires: now - 3 * DAY } };
    const a = withStore(tokens);
    const b = withStore({ ...tokens, ...expiring });
    const c = withStore({ ...tokens, ...expiring, ...expired });
    const [ja, jb, jc, tc] = await Promise.all([json(a, "--check"), json(b, "--check"), json(c, "--check"), text(c, "--check")]);
    expect([ja.code, jb.code, jc.code, tc.code]).toEqual([0, 2, 1, 1]);
    expect(healthOf(ja.doc, "anthropic:static")).toMatchObject({ type: "token", status: "static" });
    expect(healthOf(ja.doc, "anthropic:static").expiresAt).toBeUndefined();
    expect(healthOf(ja.doc, "groq:ok")).toMatchObject({ status: "ok", expiresAt: now + 10 * DAY });
    expect(jb.doc.check).toEqual({ exitCode: 2, warnWithinMs: DAY, failures: [], warnings: [{ code: "expiring", provider: "groq", profileId: "groq:soon" }] });
    expect(healthOf(jc.doc, "groq:old")).toMatchObject({
      status: "expired",
      reasonCode: "expired",
      expiresAt: now - 3 * DAY,
      fix: "jarvis models auth paste-token --provider groq --profile-id groq:old",
    });
    expect(healthOf(jc.doc, "groq:old").remainingMs).toBeLessThanOrEqual(-3 * DAY);
    expect(jc.doc.check.failures).toEqual([{ code: "expired", provider: "groq", profileId: "groq:old" }]);
    expect(tc.stdout).toContain("\n  - anthropic:static static\n");
    expect(tc.stdout).toContain("\n  - groq:ok ok, expires in 10d\n");
    expect(tc.stdout).toContain("\n  - groq:soon expiring, expires in 5h");
    expect(tc.stdout).toContain("\n  - groq:old expired 3d ago — fix: jarvis models auth paste-token --provider groq --profile-id groq:old\n");
    expect(tc.stdout.trimEnd().split("\n").at(-1)).toBe("Check: failed — groq:old expired");
    expect(lineStarting(tc.stdout, "Providers w/ OAuth/tokens")).toBe("Providers w/ OAuth/tokens (2): anthropic (1), groq (3)");
  });

  test("oauth expired with a refresh token: expired (D8), refreshable, refresh fix, exit 1", async () => {
    const now = Date.now();
    const sb = withStore({
      "openai-codex:me@example.com": {
        type: "oauth",
        provider: "openai-codex",
        access: SECRETS.access,
        refresh: SECRETS.refresh,
        expires: now - 2 * DAY,
        email: "me@example.com",
      },
      "anthropic:default": { type: "api_key", provider: "anthropic", key: SECRETS.key },
    });
    const [j, t] = await Promise.all([json(sb, "--check"), text(sb, "--check")]);
    expect(j.code).toBe(1);
    expect(healthOf(j.doc, "openai-codex:me@example.com")).toMatchObject({
      type: "oauth",
      status: "expired",
      reasonCode: "expired",
      refreshable: true,
      fix: "jarvis models auth refresh --profile-id openai-codex:me@example.com",
      label: "openai-codex:me@example.com (me@example.com)",
    });
    expect(providerOf(j.doc, "openai-codex").profiles.labels).toEqual(["openai-codex:me@example.com=OAuth (me@example.com)"]);
    expect(j.doc.auth.oauth.providers.find((p: any) => p.provider === "openai-codex")).toMatchObject({ status: "expired", expiresAt: now - 2 * DAY });
    expect(t.stdout).toContain(
      "\n  - openai-codex:me@example.com expired 2d ago (refreshable) — fix: jarvis models auth refresh --profile-id openai-codex:me@example.com\n",
    );
    expect(t.code).toBe(1);
  });

  test("oauth needing relogin is expiring (exit 2); external oauth carries its source", async () => {
    const now = Date.now();
    const sb = withStore(
      {
        "anthropic:me": { type: "oauth", provider: "anthropic", access: SECRETS.access, refresh: SECRETS.refresh, expires: now + 5 * DAY },
        "openai-codex:ext": {
          type: "oauth",
          provider: "openai-codex",
          access: SECRETS.access + "x",
          expires: now + 6 * DAY,
          external: { source: "codex", path: "/nonexistent/auth.json" },
        },
      },
      { usageStats: { "anthropic:me": { needsRelogin: { reason: "invalid_grant", at: now - MIN } } } },
    );
    const [j, t] = await Promise.all([json(sb, "--check"), text(sb)]);
    expect(j.code).toBe(2);
    expect(healthOf(j.doc, "anthropic:me")).toMatchObject({
      status: "expiring",
      reasonCode: "relogin_required",
      needsRelogin: true,
      fix: "jarvis models auth login --provider anthropic --profile-id anthropic:me",
    });
    expect(j.doc.check.warnings).toEqual([{ code: "relogin_required", provider: "anthropic", profileId: "anthropic:me" }]);
    expect(healthOf(j.doc, "openai-codex:ext")).toMatchObject({ status: "ok", external: "codex" });
    expect(providerOf(j.doc, "openai-codex").profiles.labels).toEqual(["openai-codex:ext=OAuth [external:codex]"]);
    expect(lineStarting(t.stdout, "  - anthropic:me ")).toStartWith("  - anthropic:me expiring, expires in 5d");
  });

  test("expires that looks like seconds: invalid_expires with the hint, missing, exit 1", async () => {
    const secs = Math.floor(Date.now() / 1000) + 86_400;
    const sb = withStore({ "anthropic:manual": { type: "token", provider: "anthropic", token: SECRETS.token, expires: secs } });
    const [j, t] = await Promise.all([json(sb, "--check"), text(sb)]);
    expect(j.code).toBe(1);
    expect(healthOf(j.doc, "anthropic:manual")).toMatchObject({
      status: "missing",
      reasonCode: "invalid_expires",
      hint: "looks like seconds; expected epoch milliseconds",
    });
    expect(j.doc.check.failures).toEqual([
      { code: "invalid_expires", provider: "anthropic", profileId: "anthropic:manual" },
      { code: "no_credentials", provider: "anthropic" },
    ]);
    expect(j.doc.auth.missingProvidersInUse).toEqual(["anthropic"]);
    expect(t.stdout).toContain("  - anthropic:manual missing (invalid_expires: looks like seconds; expected epoch milliseconds)");
  });

  test("SecretRefs: env ref resolved from the state .env is static; a missing one is unresolved", async () => {
    const sb = withStore({
      "openai:work": { type: "api_key", provider: "openai", keyRef: { source: "env", provider: "default", id: "OPENAI_WORK_KEY" } },
      "openai:gone": { type: "api_key", provider: "openai", keyRef: { source: "env", provider: "default", id: "OPENAI_GONE_KEY" } },
    });
    sb.writeConfig({ agents: { defaults: { model: "openai/gpt-5.2" } } });
    sb.write(path.join(sb.state, ".env"), `OPENAI_WORK_KEY=${SECRETS.openai}\n`);
    const [j, t] = await Promise.all([json(sb, "--check"), text(sb)]);
    expect(healthOf(j.doc, "openai:work")).toMatchObject({ status: "static" });
    expect(healthOf(j.doc, "openai:gone")).toMatchObject({
      status: "unresolved",
      reasonCode: "unresolved_ref",
      ref: { source: "env", provider: "default", id: "OPENAI_GONE_KEY" },
    });
    expect(j.doc.auth.unresolvedRefs).toEqual([
      {
        profileId: "openai:gone",
        provider: "openai",
        ref: { source: "env", provider: "default", id: "OPENAI_GONE_KEY" },
        error: 'Environment variable "OPENAI_GONE_KEY" is missing or empty.',
      },
    ]);
    expect(providerOf(j.doc, "openai").profiles.labels).toEqual(["openai:gone=ref(env:OPENAI_GONE_KEY) unresolved", "openai:work=ref(env:OPENAI_WORK_KEY)"]);
    expect(j.code).toBe(1);
    expect(j.doc.check.failures).toEqual([{ code: "unresolved_ref", provider: "openai", profileId: "openai:gone" }]);
    expect(t.stdout).toContain('\nUnresolved refs\n- openai:gone ref(env:OPENAI_GONE_KEY): Environment variable "OPENAI_GONE_KEY" is missing or empty.\n');
  });
});

describe("exec SecretRefs (04 §1: resolved only with --resolve-exec / --check)", () => {
  test("not resolved by default (present), resolved with --resolve-exec and --check; a failing one is unresolved", async () => {
    const sb = sandbox();
    const bin = path.join(sb.home, "bin");
    fs.mkdirSync(bin, { mode: 0o700 });
    const ok = path.join(bin, "vault-ok");
    const bad = path.join(bin, "vault-bad");
    fs.writeFileSync(ok, `#!/bin/sh\nprintf '%s' '${SECRETS.openai}'\n`, { mode: 0o700 });
    fs.writeFileSync(bad, "#!/bin/sh\nexit 3\n", { mode: 0o700 });
    sb.writeConfig({
      agents: { defaults: { model: "openai/gpt-5.2" } },
      secrets: {
        providers: {
          vault: { source: "exec", command: ok, jsonOnly: false },
          broken: { source: "exec", command: bad, jsonOnly: false },
        },
      },
    });
    const store = (provider: string) => ({
      version: 1,
      profiles: { "openai:vault": { type: "api_key", provider: "openai", keyRef: { source: "exec", provider, id: "openai/api-key" } } },
    });
    sb.writeStore(store("vault"));
    const [plain, resolveExec, check] = await Promise.all([json(sb), json(sb, "--resolve-exec"), json(sb, "--check")]);
    expect(providerOf(plain.doc, "openai").profiles.labels).toEqual(["openai:vault=ref(exec:openai/api-key) not resolved"]);
    expect(healthOf(plain.doc, "openai:vault").status).toBe("static");
    expect(plain.doc.auth.unresolvedRefs).toEqual([]);
    expect(providerOf(resolveExec.doc, "openai").profiles.labels).toEqual(["openai:vault=ref(exec:openai/api-key)"]);
    expect(check.code).toBe(0);
    expect(healthOf(check.doc, "openai:vault").status).toBe("static");
    sb.writeStore(store("broken"));
    const [plain2, check2] = await Promise.all([json(sb), json(sb, "--check")]);
    expect(plain2.code).toBe(0);
    expect(healthOf(plain2.doc, "openai:vault").status).toBe("static");
    expect(check2.code).toBe(1);
    expect(healthOf(check2.doc, "openai:vault")).toMatchObject({ status: "unresolved", reasonCode: "unresolved_ref" });
    expect(check2.doc.check.failures).toEqual([{ code: "unresolved_ref", provider: "openai", profileId: "openai:vault" }]);
    expect(check2.doc.auth.unresolvedRefs[0]).toMatchObject({ profileId: "openai:vault", ref: { source: "exec", provider: "broken", id: "openai/api-key" } });
  });
});

describe("loading (03 §2)", () => {
  test("legacy field names are aliased in memory with the spec's warning line", async () => {
    const sb = sandbox();
    sb.writeStore({
      version: 1,
      profiles: {
        "anthropic:default": { mode: "api_key", provider: "anthropic", apiKey: SECRETS.key },
        "openai:default": { type: "apiKey", provider: "openai", key: SECRETS.openai },
      },
    });
    const [j, t] = await Promise.all([json(sb), text(sb)]);
    const msg =
      "auth store: 2 profiles use legacy field names (anthropic:default: mode→type, apiKey→key; openai:default: type apiKey→api_key); run jarvis doctor --fix";
    expect(j.doc.auth.warnings).toEqual([{ code: "alias_fields", message: msg }]);
    expect(j.stderr).toBe(`warning: ${msg}\n`);
    expect(t.stderr).toBe(`warning: ${msg}\n`);
    expect(providerOf(j.doc, "anthropic").profiles.labels).toEqual(["anthropic:default=sk-ant-a…abcd"]);
    expect(healthOf(j.doc, "openai:default")).toMatchObject({ type: "api_key", status: "static" });
    expect(j.doc.auth.invalidProfiles).toEqual([]);
  });

  test("invalid entries: every reason code, excluded from use, listed, and a provider left without credential", async () => {
    const sb = sandbox();
    sb.writeStore({
      version: 1,
      profiles: {
        "bogus:x": { type: "weird", provider: "bogus" },
        "anthropic:str": "not an object",
        "anthropic:noprov": { type: "api_key", provider: "  ", key: SECRETS.key },
        "anthropic:numkey": { type: "api_key", provider: "anthropic", key: 12345 },
        "openai-codex:ref": {
          type: "oauth",
          provider: "openai-codex",
          access: { source: "env", provider: "default", id: "CODEX_ACCESS" },
          expires: Date.now() + DAY,
        },
        "anthropic bad id": { type: "api_key", provider: "anthropic", key: SECRETS.key },
        "groq:ok": { type: "api_key", provider: "groq", key: fake.groq(1) },
      },
    });
    const [j, c, t] = await Promise.all([json(sb), json(sb, "--check"), text(sb)]);
    expect(j.code).toBe(0);
    // Sorted by provider id (none first), then profile id.
    expect(j.doc.auth.invalidProfiles.map((i: any) => [i.profileId, i.reason])).toEqual([
      ["anthropic:noprov", "missing_provider"],
      ["anthropic:str", "non_object"],
      ["anthropic bad id", "invalid_id"],
      ["anthropic:numkey", "invalid_field"],
      ["bogus:x", "invalid_type"],
      ["openai-codex:ref", "oauth_with_ref"],
    ]);
    const byId = Object.fromEntries(j.doc.auth.invalidProfiles.map((i: any) => [i.profileId, i.detail]));
    expect(byId["anthropic:numkey"]).toBe("/key: expected string");
    expect(byId["bogus:x"]).toBe('type "weird" is not one of api_key, token, oauth');
    expect(j.doc.auth.oauth.profiles.map((p: any) => p.profileId)).toEqual(["groq:ok"]);
    expect(providerOf(j.doc, "anthropic")).toBeUndefined();
    expect(j.doc.auth.missingProvidersInUse).toEqual(["anthropic"]);
    expect(c.code).toBe(1);
    expect(c.doc.check.failures).toEqual([{ code: "no_credentials", provider: "anthropic" }]);
    expect(t.stdout).toContain(
      "\nInvalid profiles\n- anthropic:noprov missing_provider: provider is missing or blank — fix it or run jarvis models auth remove anthropic:noprov\n",
    );
    expect(t.stdout).toContain("\n- bogus:x invalid_type: type \"weird\" is not one of api_key, token, oauth — fix it or run jarvis models auth remove bogus:x\n");
    expect(t.stdout).toContain(
      "\nMissing auth\n- anthropic Set ANTHROPIC_API_KEY in ~/.jarvis/.env (recommended), or run `claude setup-token` on this gateway host and then `jarvis models auth setup-token --provider anthropic`.\n",
    );
  });

  test("unparsable store: exit 1 with line/column, never treated as empty; --json prints only the error document", async () => {
    const sb = sandbox();
    sb.writeStore(`{\n  "version": 1,\n  "profiles": {\n    "anthropic:default": {"type": "api_key", "key": "${SECRETS.key}",}\n  }\n}\n`);
    const [t, j, jc] = await Promise.all([text(sb), json(sb), json(sb, "--check")]);
    const message =
      `${sb.storePath} is not valid JSON: Expected property name at line 4, column 153. ` +
      "jarvis will not use or overwrite it; restore it from a backup or fix it (see jarvis doctor).";
    expect(t.code).toBe(1);
    expect(t.stdout).toBe("");
    expect(t.stderr).toBe(`error: ${message}\n`);
    for (const r of [j, jc]) {
      expect(r.code).toBe(1);
      expect(r.stdout).toBe(JSON.stringify({ ok: false, error: { code: "store_invalid", message } }, null, 2) + "\n");
      expect(r.stderr).toBe(`error: ${message}\n`);
    }
  });

  test("empty file, a non-store document and an unsupported version are errors too", async () => {
    const empty = sandbox();
    empty.writeStore("");
    const arr = sandbox();
    arr.writeStore("[1, 2]");
    const scalarProfiles = sandbox();
    scalarProfiles.writeStore({ version: 1, profiles: "nope" });
    const v2 = sandbox();
    v2.writeStore({ version: 2, profiles: {} });
    const [e, a, s, v] = await Promise.all([json(empty), json(arr), json(scalarProfiles), json(v2)]);
    expect(e.code).toBe(1);
    expect(e.doc.error).toEqual({
      code: "store_invalid",
      message: `${empty.storePath} is not valid JSON: Unexpected end of JSON input at line 1, column 1. jarvis will not use or overwrite it; restore it from a backup or fix it (see jarvis doctor).`,
    });
    expect(a.code).toBe(1);
    expect(a.doc.error.message).toBe(`${arr.storePath} is not an auth store`);
    expect(s.doc.error.message).toBe(`${scalarProfiles.storePath} is not an auth store`);
    expect(v.code).toBe(1);
    expect(v.doc.ok).toBe(false);
    expect(v.doc.error.message).toBe("auth-profiles.json has version 2; this jarvis understands version 1");
  });

  test("missing file, empty object and legacy flat store", async () => {
    const missing = sandbox();
    const emptyObj = sandbox();
    emptyObj.writeStore({});
    const flat = sandbox();
    flat.writeStore({ anthropic: { type: "api_key", key: SECRETS.key }, "openai:me": { type: "api_key", provider: "openai", key: SECRETS.openai } });
    const [m, e, f, ft] = await Promise.all([json(missing), json(emptyObj), json(flat), text(flat)]);
    expect(m.doc.auth.storeStatus).toBe("missing");
    expect(fs.existsSync(missing.state)).toBe(false);
    expect(e.doc.auth.storeStatus).toBe("ok");
    expect(e.doc.auth.warnings).toEqual([]);
    expect(f.doc.auth.storeStatus).toBe("legacy_flat");
    expect(f.doc.auth.warnings.map((w: any) => w.code)).toEqual(["legacy_flat_store"]);
    expect(providerOf(f.doc, "anthropic").profiles.labels).toEqual(["anthropic:default=sk-ant-a…abcd"]);
    expect(providerOf(f.doc, "openai").profiles.labels).toEqual(["openai:me=sk-proj-…cdef"]);
    expect(ft.stderr).toContain("legacy flat layout");
  });

  test("a store path that is a directory is an error (exit 1, error document)", async () => {
    const sb = sandbox();
    fs.mkdirSync(sb.storePath, { recursive: true });
    const [j, t] = await Promise.all([json(sb), text(sb)]);
    expect(j.code).toBe(1);
    expect(j.doc.ok).toBe(false);
    expect(j.doc.error.code).toBe("store_invalid");
    expect(j.doc.error.message).toContain(sb.storePath);
    expect(t.code).toBe(1);
    expect(t.stdout).toBe("");
  });

  // Root reads any file regardless of its mode, so this case cannot be produced when the tests run as root.
  test.skipIf(process.getuid?.() === 0)("an unreadable store (chmod 000) is an error", async () => {
    const sb = withStore({ "anthropic:default": { type: "api_key", provider: "anthropic", key: SECRETS.key } });
    fs.chmodSync(sb.storePath, 0o000);
    const j = await json(sb);
    fs.chmodSync(sb.storePath, 0o600);
    expect(j.code).toBe(1);
    expect(j.doc.ok).toBe(false);
    expect(j.doc.error.message).toContain(sb.storePath);
  });

  test("legacy credential files are reported, not read", async () => {
    const sb = withStore({ "anthropic:default": { type: "api_key", provider: "anthropic", key: SECRETS.key } });
    sb.write(path.join(sb.agentDir, "auth.json"), { anthropic: { key: SECRETS.openai } });
    sb.write(path.join(sb.state, "credentials", "oauth.json"), {});
    const [j, t] = await Promise.all([json(sb), text(sb)]);
    expect(j.doc.auth.legacyFiles).toEqual([path.join(sb.agentDir, "auth.json"), path.join(sb.state, "credentials", "oauth.json")]);
    expect(j.doc.auth.warnings.map((w: any) => w.code)).toEqual(["legacy_file", "legacy_file"]);
    expect(t.stdout).toContain("\nLegacy files\n- ~/.jarvis/agents/main/agent/auth.json not used; run jarvis doctor --fix to import\n");
    expect(providerOf(j.doc, "anthropic").profiles.labels).toEqual(["anthropic:default=sk-ant-a…abcd"]);
  });
});

describe("providers, windows and order", () => {
  test("unknown provider: listed from its profile; in use without credential gets the generic hint", async () => {
    const sb = withStore({ "acme:x": { type: "api_key", provider: "Acme", key: SECRETS.openai } });
    sb.writeConfig({ agents: { defaults: { model: { primary: "acme/big", fallbacks: ["my-llm.co/small"] } } } });
    const [j, t] = await Promise.all([json(sb, "--check"), text(sb)]);
    expect(j.doc.auth.providersInUse).toEqual(["acme", "my-llm.co"]);
    expect(providerOf(j.doc, "acme")).toMatchObject({ inUse: true, effective: { kind: "profiles", profileId: "acme:x" } });
    expect(j.doc.auth.missingProvidersInUse).toEqual(["my-llm.co"]);
    expect(j.doc.check.failures).toEqual([{ code: "no_credentials", provider: "my-llm.co" }]);
    expect(t.stdout).toContain("\n- my-llm.co Set MY_LLM_CO_API_KEY in ~/.jarvis/.env, or run `jarvis models auth paste-token --provider my-llm.co`.\n");
  });

  test("cooldown and disabled labels, unusableProfiles sorted by remaining time; openrouter never unusable", async () => {
    const now = Date.now();
    const sb = withStore(
      {
        "anthropic:a": { type: "api_key", provider: "anthropic", key: SECRETS.key },
        "anthropic:b": { type: "token", provider: "anthropic", token: SECRETS.token },
        "openai:work": { type: "api_key", provider: "openai", key: SECRETS.openai },
        "openrouter:x": { type: "api_key", provider: "openrouter", key: fake.openrouterKey },
      },
      {
        usageStats: {
          "anthropic:a": { cooldownUntil: now + 4 * MIN + 10_000, cooldownReason: "rate_limit", cooldownModel: "claude-opus-4-6" },
          "anthropic:b": { cooldownUntil: now + 30 * MIN + 10_000 },
          "openai:work": { disabledUntil: now + 5 * H + 10_000, disabledReason: "billing", cooldownUntil: now + MIN },
          "openrouter:x": { cooldownUntil: now + H, cooldownReason: "rate_limit" },
        },
      },
    );
    const [j, t] = await Promise.all([runRO(sb, ["models", "status", "--json", "--check"], { secrets: [...ALL, fake.openrouterKey] }), runRO(sb, ["models", "status"], { secrets: [...ALL, fake.openrouterKey] })]);
    expect(j.code).toBe(0);
    expect(j.doc.auth.unusableProfiles.map((u: any) => [u.profileId, u.kind, u.reason, u.model, u.until])).toEqual([
      ["anthropic:a", "cooldown", "rate_limit", "claude-opus-4-6", now + 4 * MIN + 10_000],
      ["anthropic:b", "cooldown", "unknown", undefined, now + 30 * MIN + 10_000],
      ["openai:work", "disabled", "billing", undefined, now + 5 * H + 10_000],
    ]);
    const rem = j.doc.auth.unusableProfiles[0].remainingMs;
    expect(rem).toBeGreaterThan(4 * MIN);
    expect(rem).toBeLessThanOrEqual(4 * MIN + 10_000);
    expect(providerOf(j.doc, "anthropic").profiles.labels).toEqual([
      "anthropic:a=sk-ant-a…abcd [cooldown 4m rate_limit]",
      "anthropic:b=token:sk-ant-o…wxyz [cooldown 30m unknown]",
    ]);
    expect(providerOf(j.doc, "openai").profiles.labels).toEqual(["openai:work=sk-proj-…cdef [disabled:billing 5h]"]);
    expect(providerOf(j.doc, "openrouter").profiles.labels).toEqual(["openrouter:x=sk-or-v1…XYZW"]);
    expect(lineStarting(t.stdout, "- anthropic:a cooldown")).toStartWith(
      "- anthropic:a cooldown rate_limit (model claude-opus-4-6) 4m, until ",
    );
    expect(lineStarting(t.stdout, "- anthropic:a cooldown")).toEndWith("Z — verify now: jarvis models status --probe --probe-profile anthropic:a");
    expect(lineStarting(t.stdout, "- openai:work disabled")).toMatch(
      /^- openai:work disabled:billing 5h, until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ — top up credits or fix the key, then verify: jarvis models status --probe --probe-profile openai:work$/,
    );
  });

  test("config auth.profiles: email in the OAuth label, mode mismatch makes a profile ineligible; config auth.order", async () => {
    const now = Date.now();
    const sb = withStore({
      "anthropic:default": { type: "api_key", provider: "anthropic", key: SECRETS.key },
      "anthropic:me": { type: "oauth", provider: "anthropic", access: SECRETS.access, expires: now + 3 * DAY },
      "openai:a": { type: "api_key", provider: "openai", key: SECRETS.openai },
      "openai:b": { type: "api_key", provider: "openai", key: SECRETS.openai + "b" },
    });
    sb.writeConfig({
      agents: { defaults: { model: { primary: "anthropic/claude-opus-4-6", fallbacks: ["openai/gpt-5.2"] } } },
      auth: {
        profiles: {
          "anthropic:default": { provider: "anthropic", mode: "token" },
          "anthropic:me": { provider: "anthropic", mode: "oauth", email: "cfg@example.com" },
        },
        order: { OpenAI: ["openai:b", "openai:a"] },
      },
    });
    const [j, t] = await Promise.all([json(sb, "--check"), text(sb)]);
    expect(providerOf(j.doc, "anthropic").effective.profileId).toBe("anthropic:me");
    expect(providerOf(j.doc, "anthropic").profiles.labels).toEqual(["anthropic:me=OAuth (cfg@example.com)", "anthropic:default=sk-ant-a…abcd"]);
    expect(healthOf(j.doc, "anthropic:me").label).toBe("anthropic:me (cfg@example.com)");
    expect(providerOf(j.doc, "openai").effective.profileId).toBe("openai:b");
    expect(j.code).toBe(0);
    expect(t.stdout).toContain("\n  - anthropic:me ok, expires in 3d\n");
    // Without the oauth profile, the mode mismatch leaves anthropic without an eligible profile.
    sb.writeStore({ version: 1, profiles: { "anthropic:default": { type: "api_key", provider: "anthropic", key: SECRETS.key } } });
    const m = await json(sb, "--check");
    expect(providerOf(m.doc, "anthropic").effective).toEqual({ kind: "missing" });
    expect(m.doc.auth.missingProvidersInUse).toEqual(["anthropic", "openai"]);
    expect(m.code).toBe(1);
  });

  test("store order: first id is effective, omitted profiles are still labelled after it", async () => {
    const sb = withStore(
      {
        "anthropic:a": { type: "api_key", provider: "anthropic", key: SECRETS.key },
        "anthropic:b": { type: "token", provider: "anthropic", token: SECRETS.token },
        "anthropic:c": { type: "api_key", provider: "anthropic", key: SECRETS.openai },
      },
      { order: { anthropic: ["anthropic:c", "anthropic:a"] } },
    );
    const j = await json(sb);
    expect(providerOf(j.doc, "anthropic").effective.profileId).toBe("anthropic:c");
    expect(providerOf(j.doc, "anthropic").profiles.labels).toEqual([
      "anthropic:c=sk-proj-…cdef",
      "anthropic:a=sk-ant-a…abcd",
      "anthropic:b=token:sk-ant-o…wxyz",
    ]);
  });
});
