/**
 * End to end through the compiled binary: `jarvis secrets audit [--check] [--json] [--allow-exec]` (spec 06 §5) on
 * real fixture trees in a temp HOME.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { backdateTree, cleanupSandboxes, expectNoSecrets, json, sandbox, snapshotTree, writeScript, type RunResult, type Sandbox } from "./helpers.ts";

afterAll(cleanupSandboxes);

// Fixture secrets. None looks like `sk-…`, so the output redaction safety net cannot hide a leak.
const S = {
  storeKey: "storekey-TESTFAKE-anthropic-0001",
  storeToken: "storetoken-TESTFAKE-anthropic-0002",
  oauthAccess: "oauthaccess-TESTFAKE-codex-0003",
  oauthRefresh: "oauthrefresh-TESTFAKE-codex-0004",
  dotenvKey: "dotenv-TESTFAKE-anthropic-0005",
  configEnvKey: "configenv-TESTFAKE-groq-0006",
  configVarsKey: "configvars-TESTFAKE-mistral-0007",
  configApiKey: "configapikey-TESTFAKE-openrouter-0008",
  headerToken: "header-TESTFAKE-bearer-0009",
  gatewayToken: "gateway-TESTFAKE-token-0010",
  envRefValue: "envref-TESTFAKE-openai-work-0011",
  fileRefValue: "fileref-TESTFAKE-openai-0012",
  execValue: "execref-TESTFAKE-vault-0013",
  legacyKey: "legacy-TESTFAKE-auth-json-0014",
  workKey: "workagent-TESTFAKE-key-0015",
  leak: "leak-TESTFAKE-resolver-message-0016",
};
const SECRETS = Object.values(S);

async function run(sb: Sandbox, args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  const r = await sb.run(["secrets", "audit", ...args], { env });
  expectNoSecrets(r, SECRETS);
  return r;
}

const lines = (r: RunResult) => r.stdout.trimEnd().split("\n");
const envRef = (id: string) => ({ source: "env", provider: "default", id });
const execRef = (id: string, provider = "vault") => ({ source: "exec", provider, id });
const REPORT_KEYS = ["version", "status", "filesScanned", "resolution", "summary", "findings"];

/** Resolver answering `values`, or per-id errors; records that it ran in `$HOME/vault.ran`. */
function vault(sb: Sandbox, response: object): string {
  return writeScript(sb, "bin/vault", `read -r request\ntouch "$HOME/vault.ran"\nprintf '%s\\n' '${JSON.stringify(response)}'`);
}
const execProvider = (command: string) => ({ source: "exec", command, passEnv: ["HOME", "PATH"] });

describe("secrets audit (06 §5)", () => {
  test("clean: only refs that resolve → status clean, exit 0 with and without --check", async () => {
    const sb = sandbox();
    sb.write(".jarvis/secrets.json", { openai: S.fileRefValue });
    sb.writeConfig({
      agents: { defaults: { model: "openai/gpt-5.2" } },
      secrets: { providers: { filemain: { source: "file", path: "~/.jarvis/secrets.json" } } },
    });
    sb.writeStore({
      version: 1,
      profiles: {
        "openai:work": { type: "api_key", provider: "openai", keyRef: envRef("OPENAI_WORK_KEY") },
        "openai:file": { type: "api_key", provider: "openai", keyRef: { source: "file", provider: "filemain", id: "/openai" } },
      },
    });
    const env = { OPENAI_WORK_KEY: S.envRefValue };
    const r = await run(sb, ["--json"], env);
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(Object.keys(doc)).toEqual(REPORT_KEYS);
    expect(doc).toEqual({
      version: 1,
      status: "clean",
      filesScanned: [sb.storePath, sb.configPath],
      resolution: { refsChecked: 2, skippedExecRefs: 0, resolvabilityComplete: true },
      summary: { plaintextCount: 0, unresolvedRefCount: 0, shadowedRefCount: 0, legacyResidueCount: 0 },
      findings: [],
    });
    const text = await run(sb, ["--check"], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe("Secrets audit: clean. plaintext=0, unresolved=0, shadowed=0, legacy=0.\n");
  });

  test("plaintext in the store, the config (apiKey, sensitive header, gateway token, env block) and .env → findings", async () => {
    const sb = sandbox();
    sb.writeConfig({
      env: { GROQ_API_KEY: S.configEnvKey, LOG_FORMAT: "plain", vars: { MISTRAL_API_KEY: S.configVarsKey } },
      models: {
        providers: {
          openrouter: { apiKey: S.configApiKey },
          custom: { baseUrl: "https://llm.invalid/v1", headers: { Authorization: `Bearer ${S.headerToken}`, "X-Title": "jarvis" } },
          // Markers are not secrets (02 §4.2).
          ollama: { apiKey: "ollama-local" },
        },
      },
      gateway: { auth: { token: S.gatewayToken } },
    });
    sb.writeStore({
      version: 1,
      profiles: {
        "anthropic:default": { type: "api_key", provider: "anthropic", key: S.storeKey },
        "anthropic:manual": { type: "token", provider: "anthropic", token: S.storeToken },
        // OAuth access/refresh cannot be refs, so they are not findings.
        "openai-codex:me": { type: "oauth", provider: "openai-codex", access: S.oauthAccess, refresh: S.oauthRefresh, expires: Date.now() + 86_400_000 },
      },
    });
    const dotenv = sb.write(
      ".jarvis/.env",
      [`export ANTHROPIC_API_KEY="${S.dotenvKey}"`, "# OPENAI_API_KEY=commented-out", "JARVIS_LOG_LEVEL=debug", "EMPTY_TOKEN=", ""].join("\n"),
    );
    const r = await run(sb, ["--json"]);
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc.status).toBe("findings");
    expect(doc.filesScanned).toEqual([dotenv, sb.storePath, sb.configPath]);
    expect(doc.summary).toEqual({ plaintextCount: 8, unresolvedRefCount: 0, shadowedRefCount: 0, legacyResidueCount: 0 });
    const where = doc.findings.map((f: any) => [f.code, f.severity, f.file, f.jsonPath]);
    const expected = [
      [sb.storePath, "profiles.anthropic:default.key"],
      [sb.storePath, "profiles.anthropic:manual.token"],
      [sb.configPath, "models.providers.openrouter.apiKey"],
      [sb.configPath, "models.providers.custom.headers.Authorization"],
      [sb.configPath, "gateway.auth.token"],
      [sb.configPath, "env.GROQ_API_KEY"],
      [sb.configPath, "env.vars.MISTRAL_API_KEY"],
      [dotenv, "$env.ANTHROPIC_API_KEY"],
    ].map(([file, jsonPath]) => ["PLAINTEXT_FOUND", "warn", file, jsonPath]);
    expect(where).toHaveLength(expected.length);
    expect(where).toEqual(expect.arrayContaining(expected));
    const key = doc.findings.find((f: any) => f.jsonPath === "profiles.anthropic:default.key");
    expect(key).toEqual({
      code: "PLAINTEXT_FOUND",
      severity: "warn",
      file: sb.storePath,
      jsonPath: "profiles.anthropic:default.key",
      message: "Auth profile API key is stored as plaintext.",
      provider: "anthropic",
      profileId: "anthropic:default",
    });
    expect(Object.keys(key)).toEqual(["code", "severity", "file", "jsonPath", "message", "provider", "profileId"]);

    const check = await run(sb, ["--check"]);
    expect(check.code).toBe(2);
    const out = lines(check);
    expect(out[0]).toBe("Secrets audit: findings. plaintext=8, unresolved=0, shadowed=0, legacy=0.");
    expect(out).toContain("- [PLAINTEXT_FOUND] ~/.jarvis/agents/main/agent/auth-profiles.json:profiles.anthropic:default.key Auth profile API key is stored as plaintext.");
    expect(out.filter((l) => l.startsWith("- [PLAINTEXT_FOUND] ~/.jarvis/.env:$env.ANTHROPIC_API_KEY "))).toHaveLength(1);
    expect(out).toHaveLength(1 + 8);
    expect((await run(sb, ["--json", "--check"])).code).toBe(2);
  });

  test("the 06 §5 example: plaintext key, unresolved env ref, skipped exec ref → exit 1 with and without --check", async () => {
    const sb = sandbox();
    const command = vault(sb, { protocolVersion: 1, values: { "openai/token": S.execValue } });
    sb.writeConfig({ secrets: { providers: { vault: execProvider(command) } } });
    const dotenv = sb.write(".jarvis/.env", "JARVIS_LOG_LEVEL=debug\n");
    sb.writeStore({
      version: 1,
      profiles: {
        "anthropic:default": { type: "api_key", provider: "anthropic", key: S.storeKey },
        "openai:work": { type: "api_key", provider: "openai", keyRef: envRef("OPENAI_WORK_KEY") },
        "openai:vault": { type: "token", provider: "openai", tokenRef: execRef("openai/token") },
      },
    });
    const r = await run(sb, ["--json"]);
    expect(r.code).toBe(1);
    const doc = json(r);
    expect(doc).toEqual({
      version: 1,
      status: "unresolved",
      filesScanned: [dotenv, sb.storePath, sb.configPath],
      resolution: { refsChecked: 1, skippedExecRefs: 1, resolvabilityComplete: false },
      summary: { plaintextCount: 1, unresolvedRefCount: 1, shadowedRefCount: 0, legacyResidueCount: 0 },
      findings: [
        {
          code: "PLAINTEXT_FOUND",
          severity: "warn",
          file: sb.storePath,
          jsonPath: "profiles.anthropic:default.key",
          message: "Auth profile API key is stored as plaintext.",
          provider: "anthropic",
          profileId: "anthropic:default",
        },
        {
          code: "REF_UNRESOLVED",
          severity: "error",
          file: sb.storePath,
          jsonPath: "profiles.openai:work.keyRef",
          message: 'Failed to resolve env:default:OPENAI_WORK_KEY (Environment variable "OPENAI_WORK_KEY" is missing or empty.).',
          provider: "openai",
          profileId: "openai:work",
        },
      ],
    });
    // Key order as in the 06 §5 example.
    expect(Object.keys(doc)).toEqual(REPORT_KEYS);
    for (const f of doc.findings) expect(Object.keys(f)).toEqual(["code", "severity", "file", "jsonPath", "message", "provider", "profileId"]);
    expect(fs.existsSync(path.join(sb.home, "vault.ran"))).toBe(false);

    const text = await run(sb, ["--check"]);
    expect(text.code).toBe(1);
    expect(lines(text)).toEqual([
      "Secrets audit: unresolved. plaintext=1, unresolved=1, shadowed=0, legacy=0.",
      "- [PLAINTEXT_FOUND] ~/.jarvis/agents/main/agent/auth-profiles.json:profiles.anthropic:default.key Auth profile API key is stored as plaintext.",
      '- [REF_UNRESOLVED] ~/.jarvis/agents/main/agent/auth-profiles.json:profiles.openai:work.keyRef Failed to resolve env:default:OPENAI_WORK_KEY (Environment variable "OPENAI_WORK_KEY" is missing or empty.).',
      "Note: 1 exec refs were not checked (pass --allow-exec to run exec providers).",
    ]);
    expect((await run(sb, ["--json", "--check"])).code).toBe(1);
    expect(fs.existsSync(path.join(sb.home, "vault.ran"))).toBe(false);
  });

  test("--allow-exec runs exec providers: a working one is checked, a failing one is REF_UNRESOLVED", async () => {
    const sb = sandbox();
    const marker = path.join(sb.home, "vault.ran");
    const command = vault(sb, {
      protocolVersion: 1,
      values: { "openai/token": S.execValue },
      errors: { "groq/key": { code: "NOT_FOUND", message: `no such item ${S.leak}` } },
    });
    sb.writeConfig({
      secrets: { providers: { vault: execProvider(command) } },
      models: { providers: { groq: { apiKey: execRef("groq/key") } } },
    });
    sb.writeStore({ version: 1, profiles: { "openai:vault": { type: "token", provider: "openai", tokenRef: execRef("openai/token") } } });

    const skipped = await run(sb, ["--json"]);
    expect(skipped.code).toBe(0);
    expect(json(skipped)).toMatchObject({ status: "clean", resolution: { refsChecked: 0, skippedExecRefs: 2, resolvabilityComplete: false } });
    expect(lines(await run(sb, []))).toEqual([
      "Secrets audit: clean. plaintext=0, unresolved=0, shadowed=0, legacy=0.",
      "Note: 2 exec refs were not checked (pass --allow-exec to run exec providers).",
    ]);
    expect(fs.existsSync(marker)).toBe(false);

    const r = await run(sb, ["--json", "--allow-exec"]);
    expect(r.code).toBe(1);
    expect(fs.existsSync(marker)).toBe(true);
    const doc = json(r);
    expect(doc.status).toBe("unresolved");
    expect(doc.resolution).toEqual({ refsChecked: 2, skippedExecRefs: 0, resolvabilityComplete: true });
    expect(doc.findings).toEqual([
      {
        code: "REF_UNRESOLVED",
        severity: "error",
        file: sb.configPath,
        jsonPath: "models.providers.groq.apiKey",
        message: 'Failed to resolve exec:vault:groq/key (Exec provider "vault" failed for id "groq/key" (code NOT_FOUND).).',
        provider: "groq",
      },
    ]);
    const text = await run(sb, ["--allow-exec"]);
    expect(text.code).toBe(1);
    expect(text.stdout).not.toContain("Note:");
  });

  test("a config credential ref shadowed by eligible auth profiles → REF_SHADOWED; --check exit 2", async () => {
    const sb = sandbox();
    sb.writeConfig({ models: { providers: { openai: { apiKey: "${OPENAI_API_KEY}" } } } });
    sb.writeStore({ version: 1, profiles: { "openai:work": { type: "api_key", provider: "openai", keyRef: envRef("OPENAI_WORK_KEY") } } });
    const env = { OPENAI_API_KEY: S.envRefValue, OPENAI_WORK_KEY: S.fileRefValue };
    const r = await run(sb, ["--json"], env);
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc.status).toBe("findings");
    expect(doc.summary).toEqual({ plaintextCount: 0, unresolvedRefCount: 0, shadowedRefCount: 1, legacyResidueCount: 0 });
    expect(doc.findings).toHaveLength(1);
    expect(doc.findings[0]).toMatchObject({ code: "REF_SHADOWED", severity: "warn", file: sb.configPath, jsonPath: "models.providers.openai.apiKey", provider: "openai" });
    expect((await run(sb, ["--check"], env)).code).toBe(2);
  });

  test("a ref-shaped value that breaks the 06 §2 rules is REF_UNRESOLVED", async () => {
    const sb = sandbox();
    sb.writeStore({ version: 1, profiles: { "openai:bad": { type: "api_key", provider: "openai", keyRef: { source: "env", provider: "default", id: "lower_case" } } } });
    const r = await run(sb, ["--json"]);
    expect(r.code).toBe(1);
    expect(json(r).findings).toEqual([
      {
        code: "REF_UNRESOLVED",
        severity: "error",
        file: sb.storePath,
        jsonPath: "profiles.openai:bad.keyRef",
        message: 'Invalid secret reference (Env secret reference id must match /^[A-Z][A-Z0-9_]{0,127}$/ (example: "OPENAI_API_KEY").).',
        provider: "openai",
        profileId: "openai:bad",
      },
    ]);
  });

  test("legacy residue: auth.json, credentials/oauth.json and a legacy flat store in another agent", async () => {
    const sb = sandbox();
    const authJson = sb.write(path.join(sb.agentDir, "auth.json"), { anthropic: { type: "api_key", key: S.legacyKey } });
    const oauthJson = sb.write(".jarvis/credentials/oauth.json", { "openai-codex": { access: S.oauthAccess, refresh: S.oauthRefresh } });
    sb.writeStore({ version: 1, profiles: {} });
    const workStore = sb.write(".jarvis/agents/work/agent/auth-profiles.json", { "anthropic:work": { type: "api_key", provider: "anthropic", key: S.workKey } });
    const r = await run(sb, ["--json"]);
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc.filesScanned).toEqual([sb.storePath, workStore]);
    const legacy = doc.findings.filter((f: any) => f.code === "LEGACY_RESIDUE").map((f: any) => [f.severity, f.file]);
    expect(legacy.sort()).toEqual([["warn", authJson], ["warn", oauthJson], ["warn", workStore]].sort());
    expect(doc.summary.legacyResidueCount).toBe(3);
    // The flat store's key is plaintext at rest too.
    expect(doc.findings.filter((f: any) => f.code === "PLAINTEXT_FOUND").map((f: any) => [f.file, f.jsonPath])).toEqual([
      [workStore, "profiles.anthropic:work.key"],
    ]);
    expect((await run(sb, ["--check"])).code).toBe(2);
  });

  test("a store that is not valid JSON: named on stderr with line/column, the other files still scanned, exit 1", async () => {
    const sb = sandbox();
    sb.writeStore('{\n  "version": 1,\n  "profiles": ,\n}\n');
    const dotenv = sb.write(".jarvis/.env", `ANTHROPIC_API_KEY=${S.dotenvKey}\n`);
    const workStore = sb.write(".jarvis/agents/work/agent/auth-profiles.json", {
      version: 1,
      profiles: { "anthropic:work": { type: "api_key", provider: "anthropic", key: S.workKey } },
    });
    // A broken store whose parse error sits on an unquoted secret: the error names the position, never the value.
    const leaky = sb.write(".jarvis/agents/leaky/agent/auth-profiles.json", `{"version":1,"profiles":{"a:b":{"type":"api_key","provider":"a","key":${S.leak}}}}`);
    for (const args of [["--json"], ["--json", "--check"]]) {
      const r = await run(sb, args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`${sb.storePath} is not valid JSON: .* at line 3, column 15\\b`));
      expect(r.stderr).toMatch(new RegExp(`${leaky} is not valid JSON: .* at line 1, column 71\\b`));
      // Exit 1 is a result here: stdout is the normal report, not the error document.
      const doc = json(r);
      expect(Object.keys(doc)).toEqual(REPORT_KEYS);
      expect(doc.filesScanned).toEqual([dotenv, workStore]);
      expect(doc.findings.map((f: any) => [f.file, f.jsonPath])).toEqual(
        expect.arrayContaining([
          [dotenv, "$env.ANTHROPIC_API_KEY"],
          [workStore, "profiles.anthropic:work.key"],
        ]),
      );
      expect(doc.findings).toHaveLength(2);
    }
    const text = await run(sb, []);
    expect(text.code).toBe(1);
    expect(lines(text)[0]).toBe("Secrets audit: findings. plaintext=2, unresolved=0, shadowed=0, legacy=0.");
  });

  test("a $STATE/.env that exists but cannot be read is not a clean scan: named on stderr, exit 1", async () => {
    const sb = sandbox();
    const envPath = path.join(sb.state, ".env");
    fs.mkdirSync(envPath, { recursive: true });
    for (const args of [[], ["--json"]]) {
      const r = await run(sb, args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot read ${envPath} (EISDIR)`);
    }
    expect(json(await run(sb, ["--json"])).filesScanned).toEqual([]);
  });

  test("read-only (D3): no run changes a byte or an mtime, or creates anything", async () => {
    const sb = sandbox();
    const quiet = writeScript(sb, "bin/quiet", `read -r request\nprintf '%s\\n' '${JSON.stringify({ protocolVersion: 1, values: { "openai/token": S.execValue } })}'`);
    sb.writeConfig({
      secrets: { providers: { vault: execProvider(quiet) } },
      models: { providers: { openai: { apiKey: "${OPENAI_API_KEY}" }, openrouter: { apiKey: S.configApiKey } } },
    });
    sb.write(".jarvis/.env", `ANTHROPIC_API_KEY=${S.dotenvKey}\n`);
    sb.write(path.join(sb.agentDir, "auth.json"), { anthropic: { key: S.legacyKey } });
    sb.writeStore({
      version: 1,
      profiles: {
        "anthropic:default": { type: "api_key", provider: "anthropic", key: S.storeKey },
        "openai:work": { type: "api_key", provider: "openai", keyRef: envRef("OPENAI_WORK_KEY") },
        "openai:vault": { type: "token", provider: "openai", tokenRef: execRef("openai/token") },
      },
    });
    sb.write(".jarvis/agents/broken/agent/auth-profiles.json", "{ not json");
    backdateTree(sb.home);
    const before = snapshotTree(sb.home);
    const codes: number[] = [];
    for (const args of [[], ["--json"], ["--check"], ["--json", "--check"], ["--allow-exec"], ["--json", "--allow-exec", "--check"]]) {
      codes.push((await run(sb, args)).code);
    }
    expect(codes).toEqual([1, 1, 1, 1, 1, 1]);
    expect(snapshotTree(sb.home)).toEqual(before);
  });
});
