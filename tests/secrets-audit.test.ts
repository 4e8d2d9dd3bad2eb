import { describe, expect, test } from "bun:test";
import {
  auditRefsToResolve,
  auditSecrets,
  renderSecretsAuditText,
  secretsAuditExitCode,
  type SecretsAuditInput,
} from "../lib/secrets-audit.ts";
import { resolveSecretRefs } from "../lib/secrets.ts";
import { interpretStore } from "../lib/store.ts";

const MARK = "s3cr3t";
const STORE = "/home/u/.jarvis/agents/main/agent/auth-profiles.json";
const CONFIG = "/home/u/.jarvis/jarvis.json";
const DOTENV = "/home/u/.jarvis/.env";

function input(over: Partial<SecretsAuditInput> = {}): SecretsAuditInput {
  return {
    configPath: CONFIG,
    config: null,
    dotenv: null,
    stores: [],
    legacyFiles: [],
    providersWithEligibleProfiles: [],
    secretDefaults: {},
    ...over,
  };
}

async function run(inp: SecretsAuditInput, env: Record<string, string> = {}, allowExec = false) {
  const resolved = await resolveSecretRefs(auditRefsToResolve(inp), { env, home: "/home/u", config: inp.config, allowExec });
  const report = auditSecrets(inp, resolved);
  expect(JSON.stringify(report)).not.toContain(MARK);
  return report;
}

describe("secrets audit report (06 §5)", () => {
  test("the spec example: plaintext key, unresolved env ref, skipped exec ref", async () => {
    const store = interpretStore(
      {
        version: 1,
        profiles: {
          "anthropic:default": { type: "api_key", provider: "anthropic", key: `sk-ant-${MARK}` },
          "openai:work": { type: "api_key", provider: "openai", keyRef: { source: "env", provider: "default", id: "OPENAI_WORK_KEY" } },
          "openai:ok": { type: "api_key", provider: "openai", keyRef: { source: "env", provider: "default", id: "OPENAI_OK_KEY" } },
          "openai:vault": { type: "token", provider: "openai", tokenRef: { source: "exec", provider: "vault", id: "openai/token" } },
          "codex:me": { type: "oauth", provider: "openai-codex", access: `at-${MARK}`, refresh: `rt-${MARK}`, expires: 1e13 },
        },
      },
      STORE,
    );
    const config = { secrets: { providers: { vault: { source: "exec", command: "/usr/local/bin/jarvis-vault" } } } };
    const report = await run(input({ stores: [store], config, dotenv: { path: DOTENV, text: "" } }), { OPENAI_OK_KEY: `sk-${MARK}` });
    expect(report).toEqual({
      version: 1,
      status: "unresolved",
      filesScanned: [DOTENV, STORE, CONFIG],
      resolution: { refsChecked: 2, skippedExecRefs: 1, resolvabilityComplete: false },
      summary: { plaintextCount: 1, unresolvedRefCount: 1, shadowedRefCount: 0, legacyResidueCount: 0 },
      findings: [
        {
          code: "PLAINTEXT_FOUND", severity: "warn", file: STORE, jsonPath: "profiles.anthropic:default.key",
          message: "Auth profile API key is stored as plaintext.", provider: "anthropic", profileId: "anthropic:default",
        },
        {
          code: "REF_UNRESOLVED", severity: "error", file: STORE, jsonPath: "profiles.openai:work.keyRef",
          message: 'Failed to resolve env:default:OPENAI_WORK_KEY (Environment variable "OPENAI_WORK_KEY" is missing or empty.).',
          provider: "openai", profileId: "openai:work",
        },
      ],
    });
    expect(renderSecretsAuditText(report, (p) => p.replace("/home/u", "~"))).toEqual([
      "Secrets audit: unresolved. plaintext=1, unresolved=1, shadowed=0, legacy=0.",
      "- [PLAINTEXT_FOUND] ~/.jarvis/agents/main/agent/auth-profiles.json:profiles.anthropic:default.key Auth profile API key is stored as plaintext.",
      '- [REF_UNRESOLVED] ~/.jarvis/agents/main/agent/auth-profiles.json:profiles.openai:work.keyRef Failed to resolve env:default:OPENAI_WORK_KEY (Environment variable "OPENAI_WORK_KEY" is missing or empty.).',
      "Note: 1 exec refs were not checked (pass --allow-exec to run exec providers).",
    ]);
    expect(secretsAuditExitCode(report, { check: false, scanFailed: false })).toBe(1);
  });

  test("config plaintext: apiKey, sensitive headers, gateway token, env block; markers and refs are not plaintext", async () => {
    const config = {
      models: {
        providers: {
          openai: { apiKey: `sk-${MARK}-cfg`, headers: { "X-Api-Key": `h-${MARK}`, "X-Trace": "not-secret", Authorization: "${AUTH_HEADER}" } },
          anthropic: { apiKey: "ANTHROPIC_API_KEY" },
          ollama: { apiKey: "ollama-local" },
          groq: { apiKey: "${GROQ_API_KEY}" },
        },
      },
      gateway: { auth: { token: `gw-${MARK}` } },
      env: { vars: { OPENAI_API_KEY: `sk-${MARK}-env`, LOG_LEVEL: "debug" }, MY_SERVICE_TOKEN: `t-${MARK}`, FROM_VAR_TOKEN: "${X}", shellEnv: { enabled: true } },
    };
    const report = await run(input({ config }), { GROQ_API_KEY: "gsk-value" });
    expect(report.findings.map((f) => `${f.code} ${f.jsonPath}`)).toEqual([
      "PLAINTEXT_FOUND models.providers.openai.apiKey",
      "PLAINTEXT_FOUND models.providers.openai.headers.X-Api-Key",
      "PLAINTEXT_FOUND gateway.auth.token",
      "PLAINTEXT_FOUND env.vars.OPENAI_API_KEY",
      "PLAINTEXT_FOUND env.MY_SERVICE_TOKEN",
      // the `${AUTH_HEADER}` header is an env ref that does not resolve
      "REF_UNRESOLVED models.providers.openai.headers.Authorization",
    ]);
    expect(report.status).toBe("unresolved");
    expect(report.resolution).toEqual({ refsChecked: 2, skippedExecRefs: 0, resolvabilityComplete: true });
  });

  test(".env lines with non-empty values for secret names", async () => {
    const text = [
      `OPENAI_API_KEY=sk-${MARK}`,
      `export GITHUB_TOKEN="ghp-${MARK}"`,
      "EMPTY_API_KEY=",
      'QUOTED_EMPTY_SECRET=""',
      "COMMENT_TOKEN= # fill me",
      "LOG_LEVEL=debug",
      "# ANTHROPIC_API_KEY=commented",
    ].join("\n");
    const report = await run(input({ dotenv: { path: DOTENV, text } }));
    expect(report.findings).toEqual([
      { code: "PLAINTEXT_FOUND", severity: "warn", file: DOTENV, jsonPath: "$env.OPENAI_API_KEY", message: "Secret env var OPENAI_API_KEY is stored as plaintext in .env." },
      { code: "PLAINTEXT_FOUND", severity: "warn", file: DOTENV, jsonPath: "$env.GITHUB_TOKEN", message: "Secret env var GITHUB_TOKEN is stored as plaintext in .env." },
    ]);
    expect(report.status).toBe("findings");
    expect(secretsAuditExitCode(report, { check: false, scanFailed: false })).toBe(0);
    expect(secretsAuditExitCode(report, { check: true, scanFailed: false })).toBe(2);
  });

  test("shadowed config ref, legacy residue, invalid ref, clean", async () => {
    const config = { models: { providers: { openai: { apiKey: { source: "env", provider: "default", id: "OPENAI_API_KEY" } }, xai: { apiKey: { source: "env", id: "bad id" } } } } };
    const flat = interpretStore({ anthropic: { type: "api_key", key: "" } }, STORE);
    const report = await run(
      input({ config, stores: [flat], legacyFiles: ["/home/u/.jarvis/credentials/oauth.json"], providersWithEligibleProfiles: ["openai"] }),
      { OPENAI_API_KEY: "sk-value" },
    );
    expect(report.findings.map((f) => `${f.code} ${f.file}:${f.jsonPath}`)).toEqual([
      `REF_SHADOWED ${CONFIG}:models.providers.openai.apiKey`,
      `REF_UNRESOLVED ${CONFIG}:models.providers.xai.apiKey`,
      "LEGACY_RESIDUE /home/u/.jarvis/credentials/oauth.json:$",
      `LEGACY_RESIDUE ${STORE}:$`,
    ]);
    expect(report.findings[1]!.message).toStartWith("Invalid secret reference (Env secret reference id must match");

    const clean = await run(input());
    expect(clean.status).toBe("clean");
    expect(clean.filesScanned).toEqual([]);
    expect(renderSecretsAuditText(clean)).toEqual(["Secrets audit: clean. plaintext=0, unresolved=0, shadowed=0, legacy=0."]);
    expect(secretsAuditExitCode(clean, { check: true, scanFailed: true })).toBe(1);
    expect(secretsAuditExitCode(clean, { check: true, scanFailed: false })).toBe(0);
  });
});
