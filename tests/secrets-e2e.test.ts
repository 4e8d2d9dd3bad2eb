/**
 * End to end through the compiled binary: auth profiles and config credentials backed by SecretRefs (spec 06 §1–§4)
 * as `jarvis models status` reports them (04 §1, §2 labels, §4 `unresolved`, §5.3/5.4 `unresolvedRefs`, §6 check).
 * Resolvers are real `/bin/sh` scripts written into the temp HOME.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { backdateTree, cleanupSandboxes, expectNoSecrets, json, sandbox, snapshotTree, writeScript, type RunResult, type Sandbox } from "./helpers.ts";

afterAll(cleanupSandboxes);

// Fixture secrets. None looks like `sk-…`, so the redaction safety net of the output cannot hide a leak: any value
// that reached stdout/stderr is caught by `expectNoSecrets`.
const S = {
  envKey: "envref-TESTFAKE-openai-work-0001",
  fileKey: "fileref-TESTFAKE-openai-json-0002",
  tildeToken: "fileref-TESTFAKE-tilde-slash-0003",
  singleKey: "fileref-TESTFAKE-single-value-0004",
  execKey: "execref-TESTFAKE-vault-openai-0005",
  execToken: "execref-TESTFAKE-vault-token-0006",
  // Printed by broken resolvers (junk stdout, stderr, free-text error messages) and planted in a non-passed env var.
  leak: "leak-TESTFAKE-must-never-show-0007",
  oauthAccess: "oauthaccess-TESTFAKE-codex-0008",
  oauthRefresh: "oauthrefresh-TESTFAKE-codex-0009",
  plainKey: "plainkey-TESTFAKE-openai-both-0010",
  envToken: "envtoken-TESTFAKE-anthropic-0011",
};
const SECRETS = Object.values(S);

/** Run jarvis and check D9 on the run: no fixture secret (including resolver outputs) appears in stdout/stderr. */
async function run(sb: Sandbox, args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  const r = await sb.run(args, { env });
  expectNoSecrets(r, SECRETS);
  return r;
}

const lines = (r: RunResult) => r.stdout.split("\n");

/** Config with a default model (and fallbacks): these make the providers "in use" (D16). */
function models(primary: string, fallbacks: string[] = []) {
  return { agents: { defaults: { model: { primary, fallbacks } } } };
}

const envRef = (id: string, provider = "default") => ({ source: "env", provider, id });
const fileRef = (provider: string, id: string) => ({ source: "file", provider, id });
const execRef = (id: string, provider = "vault") => ({ source: "exec", provider, id });

/** An exec resolver that records each request, its cwd and its environment in `$HOME/<name>.ran`, then answers. */
function vaultScript(sb: Sandbox, name = "vault", values: Record<string, string> = { "openai/api-key": S.execKey, "anthropic/token": S.execToken }) {
  return writeScript(
    sb,
    `bin/${name}`,
    [
      "read -r request",
      `{ printf '%s\\n' "$request"; pwd; env; } >> "$HOME/${name}.ran"`,
      `printf '%s\\n' '${JSON.stringify({ protocolVersion: 1, values })}'`,
    ].join("\n"),
  );
}

const execProvider = (command: string, extra: Record<string, unknown> = {}) => ({
  source: "exec",
  command,
  passEnv: ["HOME", "PATH"],
  ...extra,
});

describe("env provider refs (06 §4.1)", () => {
  test("a resolved keyRef shows the bare ref label and counts as static; --check passes", async () => {
    const sb = sandbox();
    sb.writeConfig(models("openai/gpt-5.2"));
    sb.writeStore({
      version: 1,
      profiles: {
        "openai:work": { type: "api_key", provider: "openai", keyRef: envRef("OPENAI_WORK_KEY") },
        // Not in use: its unresolved ref is reported but does not fail --check (04 §6).
        "groq:spare": { type: "api_key", provider: "groq", keyRef: envRef("GROQ_SPARE_KEY") },
      },
    });
    const env = { OPENAI_WORK_KEY: S.envKey };
    const text = await run(sb, ["models", "status"], env);
    expect(text.code).toBe(0);
    expect(lines(text)).toContain(
      "- openai [in use] effective=profiles:openai:work | profiles=1 (oauth=0, token=0, api_key=1) | openai:work=ref(env:OPENAI_WORK_KEY)",
    );
    expect(lines(text)).toContain("- groq effective=profiles:groq:spare | profiles=1 (oauth=0, token=0, api_key=1) | groq:spare=ref(env:GROQ_SPARE_KEY) unresolved");

    const r = await run(sb, ["models", "status", "--json", "--check"], env);
    expect(r.code).toBe(0);
    const doc = json(r);
    const openai = doc.auth.providers.find((p: any) => p.provider === "openai");
    expect(openai.profiles.labels).toEqual(["openai:work=ref(env:OPENAI_WORK_KEY)"]);
    expect(doc.auth.oauth.profiles.find((h: any) => h.profileId === "openai:work")).toEqual({
      profileId: "openai:work",
      provider: "openai",
      type: "api_key",
      status: "static",
      source: "store",
      label: "openai:work",
    });
    expect(doc.auth.unresolvedRefs).toEqual([
      { profileId: "groq:spare", provider: "groq", ref: envRef("GROQ_SPARE_KEY"), error: 'Environment variable "GROQ_SPARE_KEY" is missing or empty.' },
    ]);
    expect(doc.check).toEqual({ exitCode: 0, warnWithinMs: 86_400_000, failures: [], warnings: [] });
  });

  test("the value may come from ~/.jarvis/.env (effective env, 02 §1)", async () => {
    const sb = sandbox();
    sb.writeConfig(models("openai/gpt-5.2"));
    sb.writeStore({ version: 1, profiles: { "openai:work": { type: "api_key", provider: "openai", keyRef: envRef("OPENAI_WORK_KEY") } } });
    sb.write(".jarvis/.env", `OPENAI_WORK_KEY=${S.envKey}\n`);
    const r = await run(sb, ["models", "status", "--json", "--check"]);
    expect(r.code).toBe(0);
    expect(json(r).auth.unresolvedRefs).toEqual([]);
  });

  test("a missing env var: ` unresolved` label, Unresolved refs section, 04 §5.3 JSON items, --check exit 1", async () => {
    const sb = sandbox();
    sb.writeConfig(models("openai/gpt-5.2"));
    sb.writeStore({ version: 1, profiles: { "openai:work": { type: "api_key", provider: "openai", keyRef: envRef("OPENAI_WORK_KEY") } } });

    const text = await run(sb, ["models", "status"]);
    expect(text.code).toBe(0);
    const out = lines(text);
    expect(out).toContain(
      "- openai [in use] effective=profiles:openai:work | profiles=1 (oauth=0, token=0, api_key=1) | openai:work=ref(env:OPENAI_WORK_KEY) unresolved",
    );
    const section = out.indexOf("Unresolved refs");
    expect(section).toBeGreaterThan(0);
    expect(out[section + 1]).toBe('- openai:work ref(env:OPENAI_WORK_KEY): Environment variable "OPENAI_WORK_KEY" is missing or empty.');

    const r = await run(sb, ["models", "status", "--json"]);
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc.auth.providers.find((p: any) => p.provider === "openai").profiles.labels).toEqual(["openai:work=ref(env:OPENAI_WORK_KEY) unresolved"]);
    expect(doc.auth.unresolvedRefs).toEqual([
      { profileId: "openai:work", provider: "openai", ref: envRef("OPENAI_WORK_KEY"), error: 'Environment variable "OPENAI_WORK_KEY" is missing or empty.' },
    ]);
    const health = doc.auth.oauth.profiles.find((h: any) => h.profileId === "openai:work");
    const expected = {
      profileId: "openai:work",
      provider: "openai",
      type: "api_key",
      status: "unresolved",
      reasonCode: "unresolved_ref",
      ref: envRef("OPENAI_WORK_KEY"),
      source: "store",
      label: "openai:work",
    };
    expect(health).toEqual(expected);
    // 04 §5.3: "key order as below".
    expect(Object.keys(health)).toEqual(Object.keys(expected));
    expect(doc.auth.oauth.providers.find((p: any) => p.provider === "openai")).toEqual({ provider: "openai", status: "unresolved", profiles: ["openai:work"] });
    expect(doc.check).toBeUndefined();

    const check = await run(sb, ["models", "status", "--json", "--check"]);
    expect(check.code).toBe(1);
    expect(json(check).check.failures).toEqual([{ code: "unresolved_ref", provider: "openai", profileId: "openai:work" }]);
    const checkText = await run(sb, ["models", "status", "--check"]);
    expect(checkText.code).toBe(1);
    expect(lines(checkText)).toContain("Check: failed — openai:work unresolved_ref");
  });

  test("keyRef wins over key (06 §1); a tokenRef does not bypass the profile's expires (03 §6)", async () => {
    const sb = sandbox();
    sb.writeConfig(models("openai/gpt-5.2", ["anthropic/claude-opus-4-6"]));
    const now = Date.now();
    sb.writeStore({
      version: 1,
      profiles: {
        "openai:both": { type: "api_key", provider: "openai", key: S.plainKey, keyRef: envRef("OPENAI_MISSING_KEY") },
        "anthropic:old": { type: "token", provider: "anthropic", tokenRef: envRef("ANTHROPIC_SETUP_TOKEN"), expires: now - 3_600_000 },
        "anthropic:soon": { type: "token", provider: "anthropic", tokenRef: envRef("ANTHROPIC_SETUP_TOKEN"), expires: now + 3_600_000 },
      },
    });
    const r = await run(sb, ["models", "status", "--json", "--check"], { ANTHROPIC_SETUP_TOKEN: S.envToken });
    expect(r.code).toBe(1);
    const doc = json(r);
    expect(doc.auth.providers.find((p: any) => p.provider === "openai").profiles.labels).toEqual(["openai:both=ref(env:OPENAI_MISSING_KEY) unresolved"]);
    expect(doc.auth.oauth.profiles.map((h: any) => [h.profileId, h.status])).toEqual([
      ["anthropic:old", "expired"],
      ["anthropic:soon", "expiring"],
      ["openai:both", "unresolved"],
    ]);
    expect(doc.check.failures).toEqual([
      { code: "expired", provider: "anthropic", profileId: "anthropic:old" },
      { code: "unresolved_ref", provider: "openai", profileId: "openai:both" },
    ]);
  });

  test("an allowlist that does not name the variable makes the ref unresolved even when it is set", async () => {
    const sb = sandbox();
    sb.writeConfig({ ...models("openai/gpt-5.2"), secrets: { providers: { default: { source: "env", allowlist: ["OPENAI_OTHER_KEY"] } } } });
    sb.writeStore({ version: 1, profiles: { "openai:work": { type: "api_key", provider: "openai", keyRef: envRef("OPENAI_WORK_KEY") } } });
    const r = await run(sb, ["models", "status", "--json", "--check"], { OPENAI_WORK_KEY: S.envKey });
    expect(r.code).toBe(1);
    expect(json(r).auth.unresolvedRefs.map((u: any) => u.error)).toEqual([
      'Environment variable "OPENAI_WORK_KEY" is not allowlisted in secrets.providers.default.allowlist.',
    ]);
  });
});

describe("file provider refs (06 §4.2)", () => {
  function fileFixture(sb: Sandbox) {
    sb.write(".jarvis/secrets.json", {
      providers: { openai: { apiKey: S.fileKey } },
      "a/b": { "c~d": S.tildeToken },
      list: ["first"],
    });
    sb.write(".jarvis/groq.key", `${S.singleKey}\n`);
    return {
      filemain: { source: "file", path: "~/.jarvis/secrets.json", mode: "json" },
      single: { source: "file", path: "~/.jarvis/groq.key", mode: "singleValue" },
    };
  }

  test("json pointers (with ~0 / ~1) and singleValue resolve: bare labels, --check exit 0", async () => {
    const sb = sandbox();
    sb.writeConfig({ ...models("openai/gpt-5.2", ["anthropic/claude-opus-4-6", "groq/llama-3.3-70b"]), secrets: { providers: fileFixture(sb) } });
    sb.writeStore({
      version: 1,
      profiles: {
        "openai:file": { type: "api_key", provider: "openai", keyRef: fileRef("filemain", "/providers/openai/apiKey") },
        "anthropic:tilde": { type: "token", provider: "anthropic", tokenRef: fileRef("filemain", "/a~1b/c~0d") },
        "groq:single": { type: "api_key", provider: "groq", keyRef: fileRef("single", "value") },
      },
    });
    const r = await run(sb, ["models", "status", "--json", "--check"]);
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc.auth.unresolvedRefs).toEqual([]);
    const labels = Object.fromEntries(doc.auth.providers.map((p: any) => [p.provider, p.profiles.labels]));
    expect(labels).toEqual({
      anthropic: ["anthropic:tilde=ref(file:/a~1b/c~0d)"],
      groq: ["groq:single=ref(file:value)"],
      openai: ["openai:file=ref(file:/providers/openai/apiKey)"],
    });
    expect(doc.auth.oauth.profiles.map((h: any) => [h.profileId, h.status])).toEqual([
      ["anthropic:tilde", "static"],
      ["groq:single", "static"],
      ["openai:file", "static"],
    ]);
    const text = await run(sb, ["models", "status"]);
    expect(lines(text)).toContain("  - anthropic:tilde static");
  });

  test("each failing file ref reports its own 06 §4.2 error; exit 0 without --check, 1 with it", async () => {
    const sb = sandbox();
    const providers = fileFixture(sb);
    const loose = sb.write(".jarvis/loose.json", { k: S.fileKey }, 0o644);
    fs.chmodSync(loose, 0o644);
    const target = sb.write(".jarvis/target.json", { k: S.fileKey });
    const link = path.join(sb.state, "link.json");
    fs.symlinkSync(target, link);
    const gone = path.join(sb.state, "gone.json");
    sb.writeConfig({
      ...models("openai/gpt-5.2"),
      secrets: {
        providers: {
          ...providers,
          loose: { source: "file", path: loose },
          link: { source: "file", path: link },
          gone: { source: "file", path: gone },
        },
      },
    });
    const cases: Array<[string, object, string]> = [
      ["openai:absent", fileRef("filemain", "/providers/nope"), 'JSON pointer segment "nope" does not exist.'],
      ["openai:bounds", fileRef("filemain", "/list/5"), 'JSON pointer segment "5" is out of bounds.'],
      ["openai:gone", fileRef("gone", "/k"), `secrets.providers.gone.path ${gone} is not readable.`],
      ["openai:link", fileRef("link", "/k"), `secrets.providers.link.path ${link} must not be a symlink.`],
      ["openai:loose", fileRef("loose", "/k"), `secrets.providers.loose.path ${loose} permissions are too open (644); run chmod 600 ${loose}.`],
      ["openai:nowhere", fileRef("nowhere", "/k"), 'Secret provider "nowhere" is not configured (ref: file:nowhere:/k).'],
      ["openai:single", fileRef("single", "/k"), 'singleValue file provider "single" expects ref id "value".'],
      ["openai:wrongsource", envRef("OPENAI_X", "filemain"), 'Secret provider "filemain" has source "file" but ref requests "env".'],
    ];
    sb.writeStore({
      version: 1,
      profiles: Object.fromEntries(cases.map(([id, ref]) => [id, { type: "api_key", provider: "openai", keyRef: ref }])),
    });
    const r = await run(sb, ["models", "status", "--json"]);
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc.auth.unresolvedRefs.map((u: any) => [u.profileId, u.error])).toEqual(cases.map(([id, , error]) => [id, error]));
    for (const h of doc.auth.oauth.profiles) expect([h.profileId, h.status, h.reasonCode]).toEqual([h.profileId, "unresolved", "unresolved_ref"]);

    const check = await run(sb, ["models", "status", "--json", "--check"]);
    expect(check.code).toBe(1);
    expect(json(check).check.failures.map((f: any) => f.profileId)).toEqual(cases.map(([id]) => id));
  });
});

describe("exec provider refs (06 §4.3)", () => {
  function execFixture(sb: Sandbox, providerExtra: Record<string, unknown> = {}) {
    const command = vaultScript(sb);
    sb.writeConfig({
      ...models("openai/gpt-5.2", ["anthropic/claude-opus-4-6"]),
      secrets: { providers: { vault: execProvider(command, { env: { VAULT_ADDR: "https://vault.invalid" }, ...providerExtra }) } },
    });
    sb.writeStore({
      version: 1,
      profiles: {
        "openai:vault": { type: "api_key", provider: "openai", keyRef: execRef("openai/api-key") },
        "anthropic:vault": { type: "token", provider: "anthropic", tokenRef: execRef("anthropic/token") },
      },
    });
    return { command, marker: path.join(sb.home, "vault.ran") };
  }

  test("without --resolve-exec: ` not resolved` label, counts as present, and the resolver is never run", async () => {
    const sb = sandbox();
    const { marker } = execFixture(sb);
    const text = await run(sb, ["models", "status"]);
    expect(text.code).toBe(0);
    expect(lines(text)).toContain(
      "- openai [in use] effective=profiles:openai:vault | profiles=1 (oauth=0, token=0, api_key=1) | openai:vault=ref(exec:openai/api-key) not resolved",
    );
    expect(text.stdout).not.toContain("Unresolved refs");
    const r = await run(sb, ["models", "status", "--json"]);
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc.auth.providers.find((p: any) => p.provider === "openai").profiles.labels).toEqual(["openai:vault=ref(exec:openai/api-key) not resolved"]);
    expect(doc.auth.unresolvedRefs).toEqual([]);
    expect(doc.auth.oauth.profiles.map((h: any) => [h.profileId, h.status])).toEqual([
      ["anthropic:vault", "static"],
      ["openai:vault", "static"],
    ]);
    expect(fs.existsSync(marker)).toBe(false);
  });

  test("--resolve-exec runs the resolver: protocol v1 request on stdin, cwd = its dir, env = passEnv + env only", async () => {
    const sb = sandbox();
    const { command, marker } = execFixture(sb);
    const r = await run(sb, ["models", "status", "--json", "--resolve-exec"], { NOT_PASSED: S.leak });
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc.auth.unresolvedRefs).toEqual([]);
    expect(doc.auth.providers.find((p: any) => p.provider === "openai").profiles.labels).toEqual(["openai:vault=ref(exec:openai/api-key)"]);
    expect(doc.auth.oauth.profiles.map((h: any) => [h.profileId, h.status])).toEqual([
      ["anthropic:vault", "static"],
      ["openai:vault", "static"],
    ]);

    const [request, cwd, ...envLines] = fs.readFileSync(marker, "utf8").trimEnd().split("\n");
    const req = JSON.parse(request!);
    // One batch for both ids (06 §4.3), so exactly one request was recorded.
    expect(envLines.some((l) => l.startsWith("{"))).toBe(false);
    expect({ ...req, ids: [...req.ids].sort() }).toEqual({ protocolVersion: 1, provider: "vault", ids: ["anthropic/token", "openai/api-key"] });
    expect(Object.keys(req)).toEqual(["protocolVersion", "provider", "ids"]);
    expect(cwd).toBe(path.dirname(command));
    expect(envLines).toContain(`HOME=${sb.home}`);
    expect(envLines).toContain("PATH=/usr/bin:/bin");
    expect(envLines).toContain("VAULT_ADDR=https://vault.invalid");
    expect(envLines.some((l) => l.startsWith("NOT_PASSED="))).toBe(false);

    const text = await run(sb, ["models", "status", "--resolve-exec"]);
    expect(lines(text)).toContain("- openai [in use] effective=profiles:openai:vault | profiles=1 (oauth=0, token=0, api_key=1) | openai:vault=ref(exec:openai/api-key)");
    expect(lines(text)).toContain("  - anthropic:vault static");
  });

  test("--check implies exec resolution: exit 0 when the resolver works", async () => {
    const sb = sandbox();
    const { marker } = execFixture(sb);
    const r = await run(sb, ["models", "status", "--check"]);
    expect(r.code).toBe(0);
    expect(lines(r)).toContain("Check: ok");
    expect(fs.existsSync(marker)).toBe(true);
  });

  test("a symlinked command runs with allowSymlinkCommand; cwd is the directory of its target", async () => {
    const sb = sandbox();
    const real = vaultScript(sb, "vault");
    const link = path.join(sb.home, "links", "vault");
    fs.mkdirSync(path.dirname(link), { mode: 0o700 });
    fs.symlinkSync(real, link);
    sb.writeConfig({ ...models("openai/gpt-5.2"), secrets: { providers: { vault: execProvider(link, { allowSymlinkCommand: true }) } } });
    sb.writeStore({ version: 1, profiles: { "openai:vault": { type: "api_key", provider: "openai", keyRef: execRef("openai/api-key") } } });
    const r = await run(sb, ["models", "status", "--json", "--check"]);
    expect(r.code).toBe(0);
    expect(json(r).auth.unresolvedRefs).toEqual([]);
    expect(fs.readFileSync(path.join(sb.home, "vault.ran"), "utf8").split("\n")[1]).toBe(path.dirname(real));
  });

  test("noOutputTimeoutMs defaults to timeoutMs, not to a smaller built-in value", async () => {
    const sb = sandbox();
    const command = writeScript(
      sb,
      "bin/vault",
      `read -r request\nsleep 0.8\nprintf '%s\\n' '${JSON.stringify({ protocolVersion: 1, values: { "openai/api-key": S.execKey } })}'`,
    );
    sb.writeConfig({ ...models("openai/gpt-5.2"), secrets: { providers: { vault: execProvider(command, { timeoutMs: 3000 }) } } });
    sb.writeStore({ version: 1, profiles: { "openai:vault": { type: "api_key", provider: "openai", keyRef: execRef("openai/api-key") } } });
    const r = await run(sb, ["models", "status", "--json", "--check"]);
    expect(json(r).auth.unresolvedRefs).toEqual([]);
    expect(r.code).toBe(0);
  });

  // Every broken resolver: the exact 06 §4.3 message in `unresolvedRefs[].error`, exit 0 without --check, no crash,
  // nothing of what the resolver printed on stdout/stderr in the output.
  const VALUES_OK = JSON.stringify({ protocolVersion: 1, values: { "openai/api-key": S.execKey } });
  type FailCase = {
    name: string;
    body: string;
    provider?: Record<string, unknown>;
    mode?: number;
    /** Command as configured: "script" (default) or a symlink to it. */
    via?: "symlink" | "relative";
    error: (command: string) => string;
    /** The script must never have started (command checks happen before spawning). */
    notSpawned?: boolean;
  };
  const P = 'Exec provider "vault"';
  const cases: FailCase[] = [
    {
      name: "times out",
      body: "sleep 10",
      provider: { timeoutMs: 300, noOutputTimeoutMs: 10_000 },
      error: () => `${P} timed out after 300ms.`,
    },
    {
      name: "produces no output",
      body: "sleep 10",
      provider: { timeoutMs: 10_000, noOutputTimeoutMs: 300 },
      error: () => `${P} produced no output for 300ms.`,
    },
    {
      name: "floods stdout",
      body: `yes '${S.leak}'`,
      provider: { maxOutputBytes: 4096 },
      error: () => `${P} output exceeded maxOutputBytes (4096).`,
    },
    {
      name: "floods stderr (counted, never echoed)",
      body: `yes '${S.leak}' >&2`,
      provider: { maxOutputBytes: 4096 },
      error: () => `${P} output exceeded maxOutputBytes (4096).`,
    },
    { name: "prints invalid JSON", body: `printf 'not json %s\\n' '${S.leak}'`, error: () => `${P} returned invalid JSON.` },
    { name: "prints nothing", body: "exit 0", error: () => `${P} returned empty stdout.` },
    { name: "prints a non-object", body: "echo '[1,2]'", error: () => `${P} response must be an object.` },
    { name: "speaks protocol 2", body: `echo '{"protocolVersion":2,"values":{}}'`, error: () => `${P} protocolVersion must be 1.` },
    { name: "has no values", body: `echo '{"protocolVersion":1}'`, error: () => `${P} response missing "values".` },
    {
      name: "returns a per-id error (message never shown)",
      body: `printf '%s\\n' '${JSON.stringify({ protocolVersion: 1, values: {}, errors: { "openai/api-key": { code: "NOT_FOUND", message: `no such item ${S.leak}` } } })}'`,
      error: () => `${P} failed for id "openai/api-key" (code NOT_FOUND).`,
    },
    {
      name: "returns a per-id error with a malformed code",
      body: `printf '%s\\n' '${JSON.stringify({ protocolVersion: 1, values: {}, errors: { "openai/api-key": { code: S.leak } } })}'`,
      error: () => `${P} failed for id "openai/api-key".`,
    },
    { name: "omits the id", body: `echo '{"protocolVersion":1,"values":{"other":"x"}}'`, error: () => `${P} response missing id "openai/api-key".` },
    {
      name: "returns a non-string value",
      body: `echo '{"protocolVersion":1,"values":{"openai/api-key":42}}'`,
      error: () => 'Secret reference "exec:vault:openai/api-key" resolved to a non-string or empty value.',
    },
    { name: "exits non-zero (stderr never echoed)", body: `echo '${S.leak}' >&2\nexit 3`, error: () => `${P} exited with code 3.` },
    {
      name: "is group-writable",
      body: `echo '${VALUES_OK}'`,
      mode: 0o770,
      error: (c) => `${P} command ${c} must not be group- or world-writable (770).`,
      notSpawned: true,
    },
    {
      name: "is world-writable",
      body: `echo '${VALUES_OK}'`,
      mode: 0o702,
      error: (c) => `${P} command ${c} must not be group- or world-writable (702).`,
      notSpawned: true,
    },
    {
      name: "is a symlink (no allowSymlinkCommand)",
      body: `echo '${VALUES_OK}'`,
      via: "symlink",
      error: (c) => `${P} command ${c} is a symlink; set allowSymlinkCommand: true to allow it (its target is checked).`,
      notSpawned: true,
    },
    {
      name: "is outside trustedDirs",
      body: `echo '${VALUES_OK}'`,
      provider: { trustedDirs: ["/opt/jarvis-trusted"] },
      error: (c) => `${P} command ${c} is outside trustedDirs.`,
      notSpawned: true,
    },
  ];

  for (const c of cases) {
    test(`a resolver that ${c.name}`, async () => {
      const sb = sandbox();
      const marker = path.join(sb.home, "started");
      const script = writeScript(sb, "bin/vault", `touch "$HOME/started"\n${c.body}`, c.mode ?? 0o700);
      let command = script;
      if (c.via === "symlink") {
        command = path.join(sb.home, "vault-link");
        fs.symlinkSync(script, command);
      }
      sb.writeConfig({ ...models("openai/gpt-5.2"), secrets: { providers: { vault: execProvider(command, c.provider) } } });
      sb.writeStore({ version: 1, profiles: { "openai:vault": { type: "api_key", provider: "openai", keyRef: execRef("openai/api-key") } } });
      const started = Date.now();
      const r = await run(sb, ["models", "status", "--json", "--resolve-exec"]);
      // A killed resolver's `sleep 10` must not hold the command (the whole process group is killed).
      expect(Date.now() - started).toBeLessThan(5000);
      expect(r.code).toBe(0);
      const doc = json(r);
      expect(doc.auth.unresolvedRefs).toEqual([{ profileId: "openai:vault", provider: "openai", ref: execRef("openai/api-key"), error: c.error(command) }]);
      const h = doc.auth.oauth.profiles[0];
      expect([h.status, h.reasonCode]).toEqual(["unresolved", "unresolved_ref"]);
      expect(fs.existsSync(marker)).toBe(!c.notSpawned);
    });
  }

  test("failures are per ref: broken resolvers next to a working one; --check exit 1 names only the broken ones", async () => {
    const sb = sandbox();
    const good = vaultScript(sb);
    const slow = writeScript(sb, "bin/slow", "sleep 10");
    const junk = writeScript(sb, "bin/junk", `echo '${S.leak}'`);
    sb.writeConfig({
      ...models("openai/gpt-5.2", ["anthropic/claude-opus-4-6", "groq/llama-3.3-70b"]),
      secrets: { providers: { vault: execProvider(good), slow: execProvider(slow, { timeoutMs: 300 }), junk: execProvider(junk) } },
    });
    sb.writeStore({
      version: 1,
      profiles: {
        "openai:vault": { type: "api_key", provider: "openai", keyRef: execRef("openai/api-key") },
        "anthropic:slow": { type: "token", provider: "anthropic", tokenRef: execRef("anthropic/token", "slow") },
        "groq:junk": { type: "api_key", provider: "groq", keyRef: execRef("groq/key", "junk") },
      },
    });
    const r = await run(sb, ["models", "status", "--check"]);
    expect(r.code).toBe(1);
    const out = lines(r);
    const section = out.indexOf("Unresolved refs");
    expect(out.slice(section + 1, section + 3)).toEqual([
      '- anthropic:slow ref(exec:anthropic/token): Exec provider "slow" timed out after 300ms.',
      '- groq:junk ref(exec:groq/key): Exec provider "junk" returned invalid JSON.',
    ]);
    expect(out).toContain("Check: failed — anthropic:slow unresolved_ref, groq:junk unresolved_ref");
    // 04 §5.1: profile lines start `- <profileId> <status>`.
    expect(out.filter((l) => l.startsWith("  - anthropic:slow "))).toEqual([expect.stringMatching(/^  - anthropic:slow unresolved\b/)]);
    // The working resolver's ref resolved: bare label, not listed as unresolved.
    expect(out).toContain("- openai [in use] effective=profiles:openai:vault | profiles=1 (oauth=0, token=0, api_key=1) | openai:vault=ref(exec:openai/api-key)");
    expect(out.filter((l) => l.startsWith("- openai:vault "))).toEqual([]);
  });
});

describe("config credential refs (06 §1: models.providers.<id>.apiKey)", () => {
  test('"${OPENAI_API_KEY}" unset: config=ref(env:…), an unresolvedRefs item with its path, --check exit 1', async () => {
    const sb = sandbox();
    sb.writeConfig({ ...models("openai/gpt-5.2"), models: { providers: { openai: { apiKey: "${OPENAI_API_KEY}" } } } });
    const text = await run(sb, ["models", "status"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^- openai \[in use\] effective=\S+ \| config=ref\(env:OPENAI_API_KEY\)$/m);

    const r = await run(sb, ["models", "status", "--json"]);
    expect(r.code).toBe(0);
    const doc = json(r);
    const openai = doc.auth.providers.find((p: any) => p.provider === "openai");
    expect(openai.config).toEqual({ value: "ref(env:OPENAI_API_KEY)", source: "jarvis.json: models.providers.openai.apiKey", shadowed: false });
    expect(doc.auth.unresolvedRefs).toEqual([
      {
        provider: "openai",
        path: "models.providers.openai.apiKey",
        ref: envRef("OPENAI_API_KEY"),
        error: 'Environment variable "OPENAI_API_KEY" is missing or empty.',
      },
    ]);

    const check = await run(sb, ["models", "status", "--json", "--check"]);
    expect(check.code).toBe(1);
    expect(json(check).check.failures).toEqual([{ code: "unresolved_ref", provider: "openai" }]);
  });

  test('"${OPENAI_API_KEY}" set: the env credential wins and the config ref is shown shadowed', async () => {
    const sb = sandbox();
    sb.writeConfig({ ...models("openai/gpt-5.2"), models: { providers: { openai: { apiKey: "${OPENAI_API_KEY}" } } } });
    const r = await run(sb, ["models", "status", "--json", "--check"], { OPENAI_API_KEY: S.envKey });
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc.auth.unresolvedRefs).toEqual([]);
    const openai = doc.auth.providers.find((p: any) => p.provider === "openai");
    expect(openai.effective.kind).toBe("env");
    expect(openai.config).toEqual({ value: "ref(env:OPENAI_API_KEY)", source: "jarvis.json: models.providers.openai.apiKey", shadowed: true });
  });

  test("a {source: file} object: effective=config:ref(file:…) when it resolves, unresolved item and exit 1 when not", async () => {
    const sb = sandbox();
    sb.write(".jarvis/secrets.json", { providers: { openai: { apiKey: S.fileKey } } });
    const config = (id: string) => ({
      ...models("openai/gpt-5.2"),
      secrets: { providers: { filemain: { source: "file", path: "~/.jarvis/secrets.json" } } },
      models: { providers: { openai: { apiKey: fileRef("filemain", id) } } },
    });
    sb.writeConfig(config("/providers/openai/apiKey"));
    const ok = await run(sb, ["models", "status", "--check"]);
    expect(ok.code).toBe(0);
    expect(lines(ok)).toContain(
      "- openai [in use] effective=config:ref(file:/providers/openai/apiKey) | config=ref(file:/providers/openai/apiKey)",
    );

    sb.writeConfig(config("/providers/openai/missing"));
    const bad = await run(sb, ["models", "status", "--json", "--check"]);
    expect(bad.code).toBe(1);
    const doc = json(bad);
    expect(doc.auth.unresolvedRefs).toEqual([
      {
        provider: "openai",
        path: "models.providers.openai.apiKey",
        ref: fileRef("filemain", "/providers/openai/missing"),
        error: 'JSON pointer segment "missing" does not exist.',
      },
    ]);
    expect(doc.check.failures).toEqual([{ code: "unresolved_ref", provider: "openai" }]);
  });
});

describe("provider configuration (06 §3, 01 §3)", () => {
  test("every documented key passes config validation", async () => {
    const sb = sandbox();
    const command = vaultScript(sb);
    sb.write(".jarvis/secrets.json", { providers: { openai: { apiKey: S.fileKey } } });
    sb.writeConfig({
      ...models("openai/gpt-5.2"),
      secrets: {
        providers: {
          default: { source: "env", allowlist: ["OPENAI_WORK_KEY"] },
          filemain: { source: "file", path: "~/.jarvis/secrets.json", mode: "json", timeoutMs: 5000, maxBytes: 4096, trustedDirs: [sb.state], allowInsecurePath: false },
          vault: {
            ...execProvider(command),
            args: ["--profile", "prod"],
            timeoutMs: 8000,
            noOutputTimeoutMs: 8000,
            maxOutputBytes: 65_536,
            jsonOnly: true,
            env: { VAULT_ADDR: "https://vault.invalid" },
            trustedDirs: [path.dirname(command)],
            allowSymlinkCommand: false,
            allowInsecurePath: false,
          },
        },
        defaults: { env: "default", file: "filemain", exec: "vault" },
        resolution: { maxProviderConcurrency: 4, maxRefsPerProvider: 512, maxBatchBytes: 262_144 },
      },
    });
    sb.writeStore({ version: 1, profiles: { "openai:vault": { type: "api_key", provider: "openai", keyRef: execRef("openai/api-key") } } });
    const r = await run(sb, ["models", "status", "--json", "--check"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(json(r).auth.unresolvedRefs).toEqual([]);
  });

  test("a secrets value out of its 06 §3 limits is an invalid config (exit 1, 01 §3), not a silent per-ref failure", async () => {
    const sb = sandbox();
    sb.writeConfig({ ...models("openai/gpt-5.2"), secrets: { providers: { vault: execProvider("/usr/local/bin/jarvis-vault", { timeoutMs: 0 }) } } });
    const r = await run(sb, ["models", "status", "--json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Invalid config ${sb.configPath}: secrets.providers.vault.timeoutMs: expected integer 1-120000 (ms)`);
    expect(json(r)).toMatchObject({ ok: false, error: { code: "config_invalid" } });
  });
});

describe("OAuth profiles never hold refs (D14)", () => {
  const oauth = (extra: Record<string, unknown>) => ({
    type: "oauth",
    provider: "openai-codex",
    access: S.oauthAccess,
    refresh: S.oauthRefresh,
    expires: Date.now() + 10 * 86_400_000,
    ...extra,
  });

  test("an oauth entry with a tokenRef object is an invalid entry oauth_with_ref", async () => {
    const sb = sandbox();
    sb.writeStore({ version: 1, profiles: { "openai-codex:me": oauth({ tokenRef: envRef("CODEX_TOKEN") }) } });
    const r = await run(sb, ["models", "status", "--json"]);
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc.auth.invalidProfiles).toHaveLength(1);
    expect(doc.auth.invalidProfiles[0]).toMatchObject({ profileId: "openai-codex:me", reason: "oauth_with_ref" });
    expect(doc.auth.oauth.profiles).toEqual([]);
    const text = await run(sb, ["models", "status"]);
    expect(text.stdout).toMatch(/^- openai-codex:me oauth_with_ref: .+ — fix it or run jarvis models auth remove openai-codex:me$/m);
  });

  test('an oauth entry whose access is a "${NAME}" string is an invalid entry oauth_with_ref', async () => {
    const sb = sandbox();
    sb.writeStore({ version: 1, profiles: { "openai-codex:me": oauth({ access: "${CODEX_ACCESS_TOKEN}" }) } });
    const r = await run(sb, ["models", "status", "--json"]);
    expect(r.code).toBe(0);
    expect(json(r).auth.invalidProfiles.map((i: any) => [i.profileId, i.reason])).toEqual([["openai-codex:me", "oauth_with_ref"]]);
  });
});

describe("read-only (D3)", () => {
  test("status in every format, with and without exec resolution, changes and creates nothing", async () => {
    const sb = sandbox();
    const quiet = writeScript(sb, "bin/quiet", `read -r request\nprintf '%s\\n' '${JSON.stringify({ protocolVersion: 1, values: { "openai/api-key": S.execKey } })}'`);
    const slow = writeScript(sb, "bin/slow", "sleep 10");
    sb.write(".jarvis/secrets.json", { providers: { openai: { apiKey: S.fileKey } } });
    sb.write(".jarvis/.env", `OPENAI_WORK_KEY=${S.envKey}\n`);
    sb.writeConfig({
      ...models("openai/gpt-5.2", ["anthropic/claude-opus-4-6"]),
      secrets: {
        providers: {
          vault: execProvider(quiet),
          slow: execProvider(slow, { timeoutMs: 200 }),
          filemain: { source: "file", path: "~/.jarvis/secrets.json" },
        },
      },
      models: { providers: { groq: { apiKey: "${GROQ_API_KEY}" }, mistral: { apiKey: fileRef("filemain", "/nope") } } },
    });
    sb.writeStore({
      version: 1,
      profiles: {
        "openai:vault": { type: "api_key", provider: "openai", keyRef: execRef("openai/api-key") },
        "openai:env": { type: "api_key", provider: "openai", keyRef: envRef("OPENAI_WORK_KEY") },
        "openai:file": { type: "api_key", provider: "openai", keyRef: fileRef("filemain", "/providers/openai/apiKey") },
        "anthropic:slow": { type: "token", provider: "anthropic", tokenRef: execRef("a/b", "slow") },
        "openai-codex:me": { type: "oauth", provider: "openai-codex", access: S.oauthAccess, tokenRef: envRef("X_TOKEN") },
      },
    });
    // Every mtime an hour back, so a rewrite with the same bytes is still caught.
    backdateTree(sb.home);
    const before = snapshotTree(sb.home);
    const codes: number[] = [];
    for (const args of [[], ["--json"], ["--plain"], ["--check"], ["--json", "--check"], ["--resolve-exec"], ["--json", "--resolve-exec"]]) {
      codes.push((await run(sb, ["models", "status", ...args])).code);
    }
    expect(codes).toEqual([0, 0, 0, 1, 1, 0, 0]);
    expect(snapshotTree(sb.home)).toEqual(before);
  });
});
