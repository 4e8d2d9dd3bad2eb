// `jarvis onboard --non-interactive` end to end (spec 09 §2.2–§2.3): several providers, both secret input modes
// (plaintext/ref) and both stores (profile/env), `-` on stdin, the `.env` upsert, verification, `--json`, then
// `jarvis models status --check` from an env-less run; and the error cases with their exit codes and messages.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { authorizeRedirect, startFakeOAuth } from "./fake-oauth.ts";
import { freePort } from "./gateway-helpers.ts";
import { cleanupSandboxes, expectNoSecrets, fake, json, killLiveJarvis, sandbox, snapshotTree, startJarvis, type RunResult, type Sandbox } from "./helpers.ts";
import { DAY, fakeSecret } from "./status-helpers.ts";

afterAll(() => {
  killLiveJarvis();
  cleanupSandboxes();
});

const S = {
  anthropic: fake.anthropicKey,
  token: fake.anthropicToken,
  openai: fake.openaiKey,
  openrouter: fake.openrouterKey,
  groq: fake.groq(1),
  gemini: "AIza" + "TESTFAKE".repeat(4) + "gem1",
  xai: fakeSecret("xai-", 40, "XAI1"),
  mistral: fakeSecret("mis-", 32, "MIS1"),
  together: fakeSecret("tog-", 48, "TOG1"),
  deepseek: fakeSecret("sk-ds-", 36, "DSK1"),
  custom: fakeSecret("cust-", 30, "CUS1"),
  hashy: "hash-TESTFAKE #with space 0001",
  apostrophe: "apos-TESTFAKE-it's-0002",
  both: `both-TESTFAKE-it's-"q"-0003`,
};
const SECRETS = Object.values(S);
const ONBOARD = ["onboard", "--non-interactive", "--auth-choice"];

async function run(sb: Sandbox, args: string[], opts: { env?: Record<string, string | undefined>; stdin?: string } = {}): Promise<RunResult> {
  const r = await sb.run(args, opts);
  expectNoSecrets(r, SECRETS);
  expect(r.stderr).not.toMatch(/\n\s+at |unexpected failure/);
  return r;
}
const onboard = (sb: Sandbox, choice: string, flags: string[] = [], opts: { env?: Record<string, string | undefined>; stdin?: string } = {}) =>
  run(sb, [...ONBOARD, choice, ...flags], opts);
/** `models status --check` as cron runs it: only HOME and PATH, from `/`. */
const check = (sb: Sandbox, env: Record<string, string> = {}) => run(sb, ["models", "status", "--check"], { env });
const config = (sb: Sandbox) => JSON.parse(fs.readFileSync(sb.configPath, "utf8"));
const dotenv = (sb: Sandbox) => fs.readFileSync(path.join(sb.state, ".env"), "utf8");
const mode = (p: string) => fs.statSync(p).mode & 0o777;

/** Assert that a run changed nothing under HOME. */
async function nothingWritten(sb: Sandbox, fn: () => Promise<RunResult>): Promise<RunResult> {
  const before = snapshotTree(sb.home);
  const r = await fn();
  expect(snapshotTree(sb.home)).toEqual(before);
  return r;
}

describe("API-key choices", () => {
  test("anthropic-api-key, plaintext into the auth store (flag value); status --check is 0", async () => {
    const sb = sandbox();
    const r = await onboard(sb, "anthropic-api-key", ["--anthropic-api-key", S.anthropic]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Stored anthropic credential in auth store profile anthropic:default; verified.\n");
    expect(sb.readStore()).toEqual({ version: 1, profiles: { "anthropic:default": { type: "api_key", provider: "anthropic", key: S.anthropic } } });
    expect(config(sb)).toEqual({ auth: { profiles: { "anthropic:default": { provider: "anthropic", mode: "api_key" } } } });
    expect([mode(sb.storePath), mode(sb.configPath)]).toEqual([0o600, 0o600]);
    expect((await check(sb)).code).toBe(0);
  });

  test("openai-api-key from stdin (-), --set-default, --json", async () => {
    const sb = sandbox();
    const r = await onboard(sb, "openai-api-key", ["--openai-api-key", "-", "--set-default", "--json"], { stdin: `  ${S.openai}\r\n` });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: true,
      authChoice: "openai-api-key",
      provider: "openai",
      stored: "profile",
      profileId: "openai:default",
      secretInputMode: "plaintext",
      defaultModel: "openai/gpt-5.2",
      verified: true,
    });
    expect(sb.readStore().profiles["openai:default"]).toEqual({ type: "api_key", provider: "openai", key: S.openai });
    expect(config(sb).agents).toEqual({ defaults: { model: { primary: "openai/gpt-5.2" } } });
    expect((await check(sb)).code).toBe(0);
  });

  test("gemini-api-key into ~/.jarvis/.env (plaintext, key from the env): no profile; a daemon run is healthy", async () => {
    const sb = sandbox();
    const r = await onboard(sb, "gemini-api-key", ["--store", "env", "--set-default", "--json"], { env: { GEMINI_API_KEY: S.gemini } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: true,
      authChoice: "gemini-api-key",
      provider: "google",
      stored: "env",
      envFile: path.join(sb.state, ".env"),
      envVar: "GEMINI_API_KEY",
      secretInputMode: "plaintext",
      defaultModel: "google/gemini-2.5-pro",
      verified: true,
    });
    expect(r.stderr).toContain("warning: GEMINI_API_KEY is also set in this shell; that value wins over ~/.jarvis/.env for commands started from this shell.");
    expect(dotenv(sb)).toBe(`GEMINI_API_KEY=${S.gemini}\n`);
    expect(mode(path.join(sb.state, ".env"))).toBe(0o600);
    expect(fs.existsSync(sb.storePath)).toBe(false);
    expect(config(sb)).toEqual({ agents: { defaults: { model: { primary: "google/gemini-2.5-pro" } } } });
    expect((await check(sb)).code).toBe(0);
  });

  test("groq-api-key, ref mode into the auth store: a keyRef to GROQ_API_KEY, never the value", async () => {
    const sb = sandbox();
    const r = await onboard(sb, "groq-api-key", ["--secret-input-mode", "ref", "--set-default", "--json"], { env: { GROQ_API_KEY: S.groq } });
    expect(r.code).toBe(0);
    expect(json(r)).toMatchObject({ stored: "profile", profileId: "groq:default", envVar: "GROQ_API_KEY", secretInputMode: "ref", defaultModel: "groq/llama-3.1-8b-instant" });
    expect(sb.readStore().profiles).toEqual({ "groq:default": { type: "api_key", provider: "groq", keyRef: { source: "env", provider: "default", id: "GROQ_API_KEY" } } });
    expect(fs.readFileSync(sb.storePath, "utf8")).not.toContain(S.groq);
    expect((await check(sb, { GROQ_API_KEY: S.groq })).code).toBe(0);
    expect((await check(sb)).code).toBe(1); // the ref is unresolved without the variable
  });

  test("openrouter-api-key, ref mode into ~/.jarvis/.env: .env entry plus a keyRef profile", async () => {
    const sb = sandbox();
    const r = await onboard(sb, "openrouter-api-key", ["--secret-input-mode", "ref", "--store", "env", "--set-default"], { env: { OPENROUTER_API_KEY: S.openrouter } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Stored openrouter credential in ~/.jarvis/.env (OPENROUTER_API_KEY); verified.\nDefault model: openrouter/openrouter/auto\n");
    expect(dotenv(sb)).toBe(`OPENROUTER_API_KEY=${S.openrouter}\n`);
    expect(sb.readStore().profiles["openrouter:default"]).toEqual({ type: "api_key", provider: "openrouter", keyRef: { source: "env", provider: "default", id: "OPENROUTER_API_KEY" } });
    expect((await check(sb)).code).toBe(0);
  });

  test.each([
    ["xai-api-key", "xai", S.xai, "xai/grok-3-mini"],
    ["mistral-api-key", "mistral", S.mistral, "mistral/mistral-small-latest"],
    ["together-api-key", "together", S.together, "together/meta-llama/Llama-3.3-70B-Instruct-Turbo"],
    ["deepseek-api-key", "deepseek", S.deepseek, "deepseek/deepseek-chat"],
  ])("%s: <p>:default and the catalog probe model as default", async (choice, provider, key, model) => {
    const sb = sandbox();
    const r = await onboard(sb, choice, [`--${choice}`, key, "--set-default"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Stored ${provider} credential in auth store profile ${provider}:default; verified.\nDefault model: ${model}\n`);
    expect(sb.readStore().profiles[`${provider}:default`]).toEqual({ type: "api_key", provider, key });
    expect((await check(sb)).code).toBe(0);
  });

  test("apiKey is an alias of anthropic-api-key; the key may come from ~/.jarvis/.env itself", async () => {
    const sb = sandbox();
    sb.write(path.join(sb.state, ".env"), `ANTHROPIC_API_KEY=${S.anthropic}\n`);
    const r = await onboard(sb, "apiKey", ["--json"]);
    expect(r.code).toBe(0);
    expect(json(r)).toMatchObject({ authChoice: "anthropic-api-key", profileId: "anthropic:default" });
    expect(sb.readStore().profiles["anthropic:default"].key).toBe(S.anthropic);
  });

  test("an existing profile wins over a new .env key: warned, not a failure", async () => {
    const sb = sandbox();
    sb.writeStore({ version: 1, profiles: { "anthropic:manual": { type: "token", provider: "anthropic", token: S.token } } });
    const r = await onboard(sb, "anthropic-api-key", ["--anthropic-api-key", S.anthropic, "--store", "env"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning: anthropic has auth profiles (anthropic:manual); they take precedence over ANTHROPIC_API_KEY in ~/.jarvis/.env.");
    expect(r.stderr).toContain("warning: auth profile anthropic:manual wins over ANTHROPIC_API_KEY in ~/.jarvis/.env for anthropic.");
  });
});

describe("token choices", () => {
  test("setup-token from stdin, --set-default", async () => {
    const sb = sandbox();
    const r = await onboard(sb, "setup-token", ["--token", "-", "--set-default"], { stdin: `${S.token.slice(0, 40)}\n${S.token.slice(40)}\n` });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Stored anthropic credential in auth store profile anthropic:manual; verified.\nDefault model: anthropic/claude-opus-4-6\n");
    expect(sb.readStore().profiles["anthropic:manual"]).toEqual({ type: "token", provider: "anthropic", token: S.token });
    expect(config(sb).auth.profiles["anthropic:manual"]).toEqual({ provider: "anthropic", mode: "token" });
    expect((await check(sb)).code).toBe(0);
  });

  test("token with a provider, a profile id and an expiry", async () => {
    const sb = sandbox();
    const before = Date.now();
    const r = await onboard(sb, "token", ["--token-provider", "groq", "--token", S.groq, "--token-profile-id", "groq:ci", "--token-expires-in", "30d"]);
    expect(r.code).toBe(0);
    const p = sb.readStore().profiles["groq:ci"];
    expect(p).toMatchObject({ type: "token", provider: "groq", token: S.groq });
    expect(p.expires).toBeGreaterThanOrEqual(before + 30 * DAY);
    expect(p.expires).toBeLessThanOrEqual(Date.now() + 30 * DAY);
  });

  test("setup-token rejects an API key; nothing written", async () => {
    const sb = sandbox();
    const r = await nothingWritten(sb, () => onboard(sb, "setup-token", ["--token", S.anthropic]));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("That is an API key, not a setup-token; store it with jarvis models auth paste-token --provider anthropic");
  });
});

describe("custom endpoint", () => {
  test("loopback without a key: provider entry only; the synthetic local key makes status healthy", async () => {
    const sb = sandbox();
    const r = await onboard(sb, "custom-api-key", ["--custom-base-url", "http://127.0.0.1:8080/v1", "--custom-model-id", "qwen3", "--set-default", "--json"]);
    expect(r.code).toBe(0);
    // 09 §2.3 allows only "profile" | "env" for `stored`: nothing is stored, so `stored` is the --store in effect (default
    // profile) without profileId/envFile, and `credential` names the synthetic loopback key (02 §4.2).
    expect(json(r)).toEqual({
      ok: true,
      authChoice: "custom-api-key",
      provider: "custom-127-0-0-1",
      stored: "profile",
      credential: "custom-local",
      secretInputMode: "plaintext",
      defaultModel: "custom-127-0-0-1/qwen3",
      verified: true,
    });
    const sbEnv = sandbox();
    const viaEnv = await onboard(sbEnv, "custom-api-key", ["--custom-base-url", "http://127.0.0.1:9/v1", "--custom-model-id", "m1", "--store", "env", "--json"]);
    expect(viaEnv.code).toBe(0);
    expect(json(viaEnv)).toEqual({ ok: true, authChoice: "custom-api-key", provider: "custom-127-0-0-1", stored: "env", credential: "custom-local", secretInputMode: "plaintext", verified: true });
    expect(fs.existsSync(path.join(sbEnv.state, ".env"))).toBe(false);
    const text = await onboard(sbEnv, "custom-api-key", ["--custom-base-url", "http://127.0.0.1:9/v1", "--custom-model-id", "m1", "--store", "env"]);
    expect(text.stdout).toBe("Configured custom-127-0-0-1 (http://127.0.0.1:9/v1) without an API key (loopback); verified.\n");
    expect(config(sb)).toEqual({
      models: { providers: { "custom-127-0-0-1": { baseUrl: "http://127.0.0.1:8080/v1", api: "openai-completions", models: [{ id: "qwen3" }] } } },
      agents: { defaults: { model: { primary: "custom-127-0-0-1/qwen3" } } },
    });
    expect(fs.existsSync(sb.storePath)).toBe(false);
    expect((await check(sb)).code).toBe(0);
  });

  test("with a key into ~/.jarvis/.env: CUSTOM_API_KEY plus a config ref; anthropic compatibility", async () => {
    const sb = sandbox();
    const r = await onboard(sb, "custom-api-key", ["--custom-base-url", "https://gw.example.com/v1", "--custom-model-id", "m1", "--custom-compatibility", "anthropic", "--custom-api-key", S.custom, "--store", "env", "--set-default"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Stored custom-gw-example-com credential in ~/.jarvis/.env (CUSTOM_API_KEY); verified.\nDefault model: custom-gw-example-com/m1\n");
    expect(dotenv(sb)).toBe(`CUSTOM_API_KEY=${S.custom}\n`);
    expect(config(sb).models.providers["custom-gw-example-com"]).toEqual({
      baseUrl: "https://gw.example.com/v1",
      api: "anthropic-messages",
      models: [{ id: "m1" }],
      apiKey: { source: "env", provider: "default", id: "CUSTOM_API_KEY" },
    });
    expect((await check(sb)).code).toBe(0);
  });

  test("missing inputs: exit 1", async () => {
    const sb = sandbox();
    const noKey = await nothingWritten(sb, () => onboard(sb, "custom-api-key", ["--custom-base-url", "https://gw.example.com/v1", "--custom-model-id", "m1"]));
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toBe("error: Missing --custom-api-key (or set CUSTOM_API_KEY).\n");
    const noModel = await nothingWritten(sb, () => onboard(sb, "custom-api-key", ["--custom-base-url", "https://gw.example.com/v1"]));
    expect(noModel.code).toBe(1);
    expect(noModel.stderr).toBe("error: Missing --custom-model-id.\n");
  });
});

describe("delegated flows", () => {
  test("openai-codex: the OAuth login (callback), --set-default, one JSON document on stdout", async () => {
    const oauth = startFakeOAuth();
    oauth.expiresIn = 3 * 86_400; // outside the 24 h warn window, so status --check is 0
    try {
      const sb = sandbox();
      const port = await freePort();
      sb.writeConfig({ auth: { oauth: { "openai-codex": { clientId: "jarvis-test-client", authorizeUrl: oauth.authorizeUrl, tokenUrl: oauth.tokenUrl, callbackPort: port } } } });
      const j = startJarvis([...ONBOARD, "openai-codex", "--set-default", "--json"], { env: sb.env });
      const url = (await j.waitFor(/Open this URL to log in:\r?\n(http:\/\/\S+)\r?\n/))[1]!;
      expect((await fetch(await authorizeRedirect(url))).status).toBe(200);
      const r = await j.finished();
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        ok: true,
        authChoice: "openai-codex",
        provider: "openai-codex",
        stored: "profile",
        profileId: "openai-codex:me@example.com",
        secretInputMode: "plaintext",
        defaultModel: "openai-codex/gpt-5.2",
        verified: true,
      });
      expect(r.output).toContain("Auth profile: openai-codex:me@example.com (openai-codex/oauth)");
      expectNoSecrets(r.stdout + r.output, oauth.issued.flatMap((t) => [t.access, t.refresh]));
      expect((await check(sb)).code).toBe(0);
    } finally {
      oauth.stop();
    }
  });

  test("claude-code-import: an external profile from $CLAUDE_CONFIG_DIR, verified", async () => {
    const sb = sandbox();
    const dir = path.join(sb.home, "claude");
    const expiresAt = Date.now() + 3 * DAY;
    sb.write(path.join(dir, ".credentials.json"), { claudeAiOauth: { accessToken: S.token, refreshToken: S.anthropic, expiresAt, scopes: [] } });
    const r = await onboard(sb, "claude-code-import", ["--json"], { env: { CLAUDE_CONFIG_DIR: dir } });
    expect(r.code).toBe(0);
    expect(json(r)).toEqual({ ok: true, authChoice: "claude-code-import", provider: "anthropic", stored: "profile", profileId: "anthropic:claude-code", secretInputMode: "plaintext", verified: true });
    expect(sb.readStore().profiles["anthropic:claude-code"]).toEqual({
      type: "oauth",
      provider: "anthropic",
      access: S.token,
      expires: expiresAt,
      external: { source: "claude-code", path: path.join(dir, ".credentials.json"), importedAt: expect.any(Number) },
    });
    expect(fs.readFileSync(sb.storePath, "utf8")).not.toContain(S.anthropic); // the refresh token is not copied
  });
});

describe(".env upsert (09 §2.2)", () => {
  test("first assignment replaced, later ones deleted, comments/order/blank lines kept, mode 0600", async () => {
    const sb = sandbox();
    const envPath = sb.write(
      path.join(sb.state, ".env"),
      "# keys for the gateway\nOPENAI_API_KEY=keep-me\n\nexport ANTHROPIC_API_KEY=old-value # old\n  # trailing comment\nANTHROPIC_API_KEY='older'\nZ=1\nANTHROPIC_API_KEY=\"multi\nline\"\nLAST=2",
      0o644,
    );
    fs.chmodSync(envPath, 0o644);
    const r = await onboard(sb, "anthropic-api-key", ["--anthropic-api-key", S.anthropic, "--store", "env"]);
    expect(r.code).toBe(0);
    expect(dotenv(sb)).toBe(`# keys for the gateway\nOPENAI_API_KEY=keep-me\n\nANTHROPIC_API_KEY=${S.anthropic}\n  # trailing comment\nZ=1\nLAST=2`);
    expect(mode(envPath)).toBe(0o600);
    expect(fs.existsSync(`${envPath}.lock`)).toBe(false);
  });

  test("quoting: single quotes for # and spaces, double quotes for ', read back exactly by status", async () => {
    const sb = sandbox();
    expect((await onboard(sb, "openai-api-key", ["--openai-api-key", S.hashy, "--store", "env"])).code).toBe(0);
    expect(dotenv(sb)).toBe(`OPENAI_API_KEY='${S.hashy}'\n`);
    expect((await onboard(sb, "groq-api-key", ["--groq-api-key", S.apostrophe, "--store", "env"])).code).toBe(0);
    expect(dotenv(sb)).toBe(`OPENAI_API_KEY='${S.hashy}'\nGROQ_API_KEY="${S.apostrophe}"\n`);
  });

  test("a value with ' and \" cannot be written unambiguously: exit 1, nothing written", async () => {
    const sb = sandbox();
    sb.write(path.join(sb.state, ".env"), "A=1\n");
    const r = await nothingWritten(sb, () => onboard(sb, "openai-api-key", ["--openai-api-key", S.both, "--store", "env"]));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: OPENAI_API_KEY cannot be written to .env unambiguously; use --store profile.\n");
  });
});

describe("errors", () => {
  test("--non-interactive without --auth-choice: exit 1 listing the choices", async () => {
    const sb = sandbox();
    const r = await nothingWritten(sb, () => run(sb, ["onboard", "--non-interactive"]));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "error: --non-interactive needs --auth-choice (one of: anthropic-api-key, openai-api-key, gemini-api-key, openrouter-api-key, groq-api-key, xai-api-key, mistral-api-key, together-api-key, deepseek-api-key, setup-token, token, custom-api-key, openai-codex, claude-code-import, codex-import, skip).\n",
    );
  });

  test("missing key: exit 1 naming the flag and the variable; --json carries the error document", async () => {
    const sb = sandbox();
    const r = await nothingWritten(sb, () => onboard(sb, "openai-api-key"));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: Missing --openai-api-key (or set OPENAI_API_KEY).\n");
    const j = await onboard(sb, "openai-api-key", ["--json"]);
    expect(JSON.parse(j.stdout)).toEqual({ ok: false, error: { code: "missing_input", message: "Missing --openai-api-key (or set OPENAI_API_KEY)." } });
  });

  test("usage errors (64, no JSON): unknown choice, bad enums, ref with an inline key, two stdin secrets, a key flag of another choice, reference-only options", async () => {
    const sb = sandbox();
    const cases: string[][] = [
      [...ONBOARD, "nope", "--json"],
      [...ONBOARD, "openai-api-key", "--store", "disk"],
      [...ONBOARD, "openai-api-key", "--secret-input-mode", "vault"],
      [...ONBOARD, "custom-api-key", "--custom-compatibility", "grpc"],
      [...ONBOARD, "openai-api-key", "--secret-input-mode", "ref", "--openai-api-key", S.openai],
      [...ONBOARD, "custom-api-key", "--custom-api-key", "-", "--token", "-"],
      [...ONBOARD, "openai-api-key", "--anthropic-api-key", S.anthropic],
      [...ONBOARD, "anthropic-api-key", "--accept-risk"],
      [...ONBOARD, "token", "--token-provider", "groq", "--token", S.groq, "--token-expires-in", "30x"],
    ];
    for (const args of cases) {
      const r = await nothingWritten(sb, () => run(sb, args, { env: { OPENAI_API_KEY: S.openai } }));
      expect({ args: args.slice(3).join(" "), code: r.code, stdout: r.stdout }).toEqual({ args: args.slice(3).join(" "), code: 64, stdout: "" });
    }
  });

  test("ref mode with the variable unset: exit 1 with the exact message", async () => {
    const sb = sandbox();
    const r = await nothingWritten(sb, () => onboard(sb, "openai-api-key", ["--secret-input-mode", "ref"]));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: --secret-input-mode ref stores a reference to OPENAI_API_KEY, but OPENAI_API_KEY is not set. Export it, or use --store env, then re-run.\n");
  });

  test("rejected values: curly quotes (flag), empty stdin; nothing written", async () => {
    const sb = sandbox();
    const curly = await nothingWritten(sb, () => onboard(sb, "openai-api-key", ["--openai-api-key", "\u201csk-TESTFAKE-x\u201d"]));
    expect(curly.code).toBe(1);
    expect(curly.stderr).toContain("contains U+201C at position 1");
    const empty = await nothingWritten(sb, () => onboard(sb, "openai-api-key", ["--openai-api-key", "-"], { stdin: " \n" }));
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe("error: No token received on stdin.\n");
  });

  test("no terminal and no --auth-choice: exit 1; skip writes nothing and exits 0", async () => {
    const sb = sandbox();
    const r = await nothingWritten(sb, () => run(sb, ["onboard"]));
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith("error: jarvis onboard needs a terminal; without one use jarvis onboard --non-interactive --auth-choice <choice>");
    const skip = await nothingWritten(sb, () => onboard(sb, "skip", ["--json"]));
    expect(skip.code).toBe(0);
    expect(JSON.parse(skip.stdout)).toEqual({ ok: true, authChoice: "skip", verified: true });
  });
});
