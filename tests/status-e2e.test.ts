// `jarvis models status` end to end: flags, paths, agents, config errors and the `--check` contract
// (spec 01 §1–§3, 04 §1, §5, §6, README exit codes). Every run uses the compiled binary with only HOME and PATH
// (like cron), checks that it wrote nothing, and scans its output for every fixture secret.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { cleanupSandboxes, fake, sandbox, type Sandbox } from "./helpers.ts";
import { DAY, H, healthOf, lineStarting, providerOf, runRO, scratchDir } from "./status-helpers.ts";

afterAll(cleanupSandboxes);
const tmp = scratchDir;

const SECRETS = [fake.anthropicKey, fake.anthropicToken, fake.openaiKey, fake.openrouterKey, fake.groq(1)];
const status = (sb: Sandbox, args: string[], env: Record<string, string> = {}, extraRoots: string[] = []) =>
  runRO(sb, ["models", "status", ...args], { env, secrets: SECRETS, extraRoots });

/** A sandbox whose default store holds one anthropic token profile expiring `inMs` from now. */
function tokenSandbox(inMs: number): Sandbox {
  const sb = sandbox();
  sb.writeStore({ version: 1, profiles: { "anthropic:t": { type: "token", provider: "anthropic", token: fake.anthropicToken, expires: Date.now() + inMs } } });
  return sb;
}

describe("defaults and output formats", () => {
  test("empty HOME: the full text report, exit 0 without --check", async () => {
    const sb = sandbox();
    const r = await status(sb, []);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      [
        "Config        : ~/.jarvis/jarvis.json",
        "Agent         : main",
        "Agent dir     : ~/.jarvis/agents/main/agent",
        "Default       : anthropic/claude-opus-4-6",
        "Fallbacks (0) : -",
        "Image model   : -",
        "Image fallbacks (0): -",
        "Aliases (0)   : -",
        "Configured models (0): -",
        "",
        "Auth overview",
        "Auth store    : ~/.jarvis/agents/main/agent/auth-profiles.json (missing)",
        "Shell env     : off",
        "Providers w/ OAuth/tokens (0): -",
        "",
        "Missing auth",
        "- anthropic Set ANTHROPIC_API_KEY in ~/.jarvis/.env (recommended), or run `claude setup-token` on this gateway host and then `jarvis models auth setup-token --provider anthropic`.",
        "",
        "OAuth/token status (warn within 24h)",
        "- none",
        "",
      ].join("\n"),
    );
    expect(fs.readdirSync(sb.home)).toEqual([]);
  });

  test("--json: one 2-space document with absolute paths and the always-present fields", async () => {
    const sb = sandbox();
    const r = await status(sb, ["--json"], { ANTHROPIC_API_KEY: fake.anthropicKey });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(JSON.stringify(r.doc, null, 2) + "\n");
    expect(Object.keys(r.doc)).toEqual([
      "configPath", "agentId", "agentDir", "defaultModel", "resolvedDefault", "fallbacks", "imageModel", "imageFallbacks",
      "modelConfig", "aliases", "allowed", "auth",
    ]);
    expect(Object.keys(r.doc.auth)).toEqual([
      "storePath", "storeStatus", "shellEnvFallback", "providersWithOAuth", "providersInUse", "missingProvidersInUse", "providers",
      "unusableProfiles", "invalidProfiles", "unresolvedRefs", "legacyFiles", "warnings", "oauth",
    ]);
    expect(r.doc.configPath).toBe(sb.configPath);
    expect(r.doc.agentDir).toBe(sb.agentDir);
    expect(r.doc.auth.storePath).toBe(sb.storePath);
    expect(r.doc.modelConfig).toEqual({ defaultSource: "builtin", fallbacksSource: "builtin" });
    expect(r.doc.imageModel).toBeNull();
    expect(r.doc.check).toBeUndefined();
  });

  test("bare `models`, --status-json and --status-plain equal status / --json / --plain", async () => {
    const sb = sandbox();
    const env = { OPENAI_API_KEY: fake.openaiKey };
    const [a, b, c, d, e, f] = await Promise.all([
      runRO(sb, ["models"], { env, secrets: SECRETS }),
      status(sb, [], env),
      runRO(sb, ["models", "--status-json"], { env, secrets: SECRETS }),
      status(sb, ["--json"], env),
      runRO(sb, ["models", "--status-plain"], { env, secrets: SECRETS }),
      status(sb, ["--plain"], env),
    ]);
    expect(a.stdout).toBe(b.stdout);
    expect(c.doc).toEqual(d.doc);
    expect(e.stdout).toBe("anthropic/claude-opus-4-6\n");
    expect(f.stdout).toBe(e.stdout);
    expect([a.code, c.code, e.code]).toEqual([0, 0, 0]);
  });

  test("--plain prints only the resolved default (alias and bare model id resolution); --check still sets the exit code", async () => {
    const sb = sandbox();
    sb.writeConfig(`// JSON5 with comments
{
  agents: { defaults: {
    model: { primary: "Sonnet", fallbacks: ["gpt-5.2"] },
    models: { "anthropic/claude-sonnet-4-6": { alias: "sonnet" }, "openai/gpt-5.2": {}, },
  } },
}`);
    const [p, pc, j] = await Promise.all([status(sb, ["--plain"]), status(sb, ["--plain", "--check"]), status(sb, ["--json"])]);
    expect(p.stdout).toBe("anthropic/claude-sonnet-4-6\n");
    expect(p.code).toBe(0);
    expect(pc.stdout).toBe(p.stdout);
    expect(pc.code).toBe(1);
    expect(j.doc.defaultModel).toBe("Sonnet");
    expect(j.doc.fallbacks).toEqual(["openai/gpt-5.2"]);
    expect(j.doc.aliases).toEqual({ sonnet: "anthropic/claude-sonnet-4-6" });
    expect(j.doc.allowed).toEqual(["anthropic/claude-sonnet-4-6", "openai/gpt-5.2"]);
    expect(j.doc.auth.providersInUse).toEqual(["anthropic", "openai"]);
  });
});

describe("usage errors (exit 64, never JSON)", () => {
  const rows: Array<[name: string, args: string[], stderr: string]> = [
    ["--json with --plain", ["--json", "--plain"], "Choose either --json or --plain, not both."],
    ["invalid duration 30x", ["--check", "--warn-within", "30x"], "invalid duration: 30x"],
    ["invalid duration 0", ["--json", "--warn-within", "0"], "invalid duration: 0"],
    ["invalid duration -1h", ["--warn-within=-1h"], "invalid duration: -1h"],
    ["invalid duration 30D", ["--json", "--warn-within", "30D"], "invalid duration: 30D"],
    ["invalid duration with a space", ["--warn-within", "1h 30m"], "invalid duration: 1h 30m"],
    ["probe flag without --probe", ["--json", "--probe-timeout", "100"], "--probe-timeout requires --probe."],
    ["--probe with --plain", ["--probe", "--plain"], "--probe cannot be used with --plain output."],
    ["unknown agent", ["--json", "--agent", "nope"], 'Unknown agent id "nope". Configured agents: main.'],
    ["invalid profile name", ["--json", "--profile", "a/b"], 'Invalid --profile (use letters, numbers, "_", "-" only)'],
  ];
  test.each(rows)("%s", async (_name, args, message) => {
    const sb = sandbox();
    const r = await status(sb, args);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`error: ${message}\n`);
  });
});

test("cac usage errors (unknown option, missing value) are exit 64 without JSON", async () => {
  const sb = sandbox();
  const [unknown, missing] = await Promise.all([status(sb, ["--json", "--bogus"]), status(sb, ["--json", "--check", "--warn-within"])]);
  for (const r of [unknown, missing]) {
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
  }
  expect(unknown.stderr).toContain("--bogus");
  expect(missing.stderr).toContain("--warn-within");
});

// A value that starts with `-` after a space is still the value of a value option (main.ts attachOptionValues):
// otherwise cac would read `-1h` as `-1 -h`, print help and exit 0, and a health gate would silently pass.
test("--warn-within -1h (space form) is `invalid duration: -1h`, exit 64", async () => {
  const r = await status(sandbox(), ["--check", "--warn-within", "-1h"]);
  expect(r.code).toBe(64);
  expect(r.stderr).toBe("error: invalid duration: -1h\n");
});

describe("--check (04 §6)", () => {
  test("exit 0 / 2 / 1 for ok, expiring and expired tokens; the report is printed first", async () => {
    const ok = tokenSandbox(10 * DAY);
    const soon = tokenSandbox(5 * H);
    const gone = tokenSandbox(-H);
    const [o, s, g, noCheck] = await Promise.all([status(ok, ["--check"]), status(soon, ["--check"]), status(gone, ["--check"]), status(gone, [])]);
    expect([o.code, s.code, g.code, noCheck.code]).toEqual([0, 2, 1, 0]);
    expect(o.stdout.trimEnd().split("\n").at(-1)).toBe("Check: ok");
    expect(s.stdout.trimEnd().split("\n").at(-1)).toBe("Check: expiring — anthropic:t expiring");
    expect(g.stdout.trimEnd().split("\n").at(-1)).toBe("Check: failed — anthropic:t expired, anthropic no_credentials");
    expect(g.stdout).toStartWith("Config        : ~/.jarvis/jarvis.json\n");
    expect(noCheck.stdout).not.toContain("Check:");
  });

  test("--warn-within boundaries: 30h token vs 24h, 48h, bare 48, 29h; just inside / outside 48h", async () => {
    const thirty = tokenSandbox(30 * H);
    const inside = tokenSandbox(48 * H - 60_000);
    const outside = tokenSandbox(48 * H + 60_000);
    const [d, w48, bare, w29, i, o] = await Promise.all([
      status(thirty, ["--check"]),
      status(thirty, ["--check", "--warn-within", "48h"]),
      status(thirty, ["--check", "--warn-within", "48"]),
      status(thirty, ["--check", "--warn-within", "29h"]),
      status(inside, ["--check", "--warn-within", "2d"]),
      status(outside, ["--check", "--warn-within", "1d24h"]),
    ]);
    expect([d.code, w48.code, bare.code, w29.code, i.code, o.code]).toEqual([0, 2, 2, 0, 2, 0]);
    expect(w48.stdout).toContain("\nOAuth/token status (warn within 2d)\n");
    expect(w29.stdout).toContain("\nOAuth/token status (warn within 29h)\n");
  });

  test("--json --check: the full report AND the exit code; check block with the warn window", async () => {
    const soon = tokenSandbox(30 * H);
    const [j, j2] = await Promise.all([status(soon, ["--json", "--check", "--warn-within", "1.5d"]), status(soon, ["--check", "--json"])]);
    expect(j.code).toBe(2);
    expect(j.doc.check).toEqual({
      exitCode: 2,
      warnWithinMs: 36 * H,
      failures: [],
      warnings: [{ code: "expiring", provider: "anthropic", profileId: "anthropic:t" }],
    });
    expect(j.doc.auth.oauth.warnAfterMs).toBe(36 * H);
    expect(healthOf(j.doc, "anthropic:t")).toMatchObject({ status: "expiring" });
    expect(j2.code).toBe(0);
    expect(j2.doc.check.exitCode).toBe(0);
    expect(Object.keys(j2.doc).at(-1)).toBe("check");
  });

  test("cooldowns and invalid entries alone do not fail the check; a missing provider in use does", async () => {
    const sb = sandbox();
    sb.writeStore({
      version: 1,
      profiles: { "anthropic:a": { type: "api_key", provider: "anthropic", key: fake.anthropicKey }, "x:y": { type: "nope", provider: "x" } },
      usageStats: { "anthropic:a": { disabledUntil: Date.now() + H, disabledReason: "auth_permanent" } },
    });
    const ok = await status(sb, ["--json", "--check"]);
    expect(ok.code).toBe(0);
    expect(ok.doc.auth.unusableProfiles[0]).toMatchObject({ profileId: "anthropic:a", kind: "disabled", reason: "auth_permanent" });
    sb.writeConfig({ agents: { defaults: { model: { fallbacks: ["mistral/mistral-large"] } } } });
    const bad = await status(sb, ["--json", "--check"]);
    expect(bad.code).toBe(1);
    expect(bad.doc.check.failures).toEqual([{ code: "no_credentials", provider: "mistral" }]);
    expect(bad.doc.modelConfig).toEqual({ defaultSource: "builtin", fallbacksSource: "defaults" });
  });
});

describe("paths, profiles and agents (01 §1–§2)", () => {
  test("--profile ci and JARVIS_PROFILE use ~/.jarvis-ci; `default` means no profile", async () => {
    const sb = sandbox();
    const ci = path.join(sb.home, ".jarvis-ci");
    sb.write(path.join(ci, "agents", "main", "agent", "auth-profiles.json"), {
      version: 1,
      profiles: { "anthropic:ci": { type: "api_key", provider: "anthropic", key: fake.anthropicKey } },
    });
    const [flag, env, def, t] = await Promise.all([
      runRO(sb, ["--profile", "ci", "models", "status", "--json"], { secrets: SECRETS }),
      status(sb, ["--json"], { JARVIS_PROFILE: "ci" }),
      status(sb, ["--json"], { JARVIS_PROFILE: "Default" }),
      runRO(sb, ["models", "--profile", "ci", "status"], { secrets: SECRETS }),
    ]);
    expect(flag.doc.configPath).toBe(path.join(ci, "jarvis.json"));
    expect(flag.doc.auth.storePath).toBe(path.join(ci, "agents", "main", "agent", "auth-profiles.json"));
    expect(providerOf(flag.doc, "anthropic").profiles.labels).toEqual(["anthropic:ci=sk-ant-a…abcd"]);
    expect(env.doc.configPath).toBe(flag.doc.configPath);
    expect(def.doc.configPath).toBe(sb.configPath);
    expect(lineStarting(t.stdout, "Config")).toBe("Config        : ~/.jarvis-ci/jarvis.json");
  });

  test("JARVIS_STATE_DIR beats --profile; JARVIS_CONFIG_PATH and JARVIS_HOME (with ~) are honoured", async () => {
    const sb = sandbox();
    const state = tmp();
    const cfgDir = tmp();
    fs.writeFileSync(path.join(cfgDir, "custom.json5"), "{ agents: { defaults: { model: 'openai/gpt-5.2' } } }");
    const [s, c, h] = await Promise.all([
      runRO(sb, ["models", "status", "--json", "--profile", "ci"], { env: { JARVIS_STATE_DIR: state }, secrets: SECRETS, extraRoots: [state] }),
      status(sb, ["--json"], { JARVIS_CONFIG_PATH: path.join(cfgDir, "custom.json5") }, [cfgDir]),
      status(sb, ["--json"], { JARVIS_HOME: "~/svc" }),
    ]);
    expect(s.doc.configPath).toBe(path.join(state, "jarvis.json"));
    expect(s.doc.agentDir).toBe(path.join(state, "agents", "main", "agent"));
    expect(c.doc.configPath).toBe(path.join(cfgDir, "custom.json5"));
    expect(c.doc.resolvedDefault).toBe("openai/gpt-5.2");
    expect(c.doc.agentDir).toBe(sb.agentDir);
    expect(h.doc.configPath).toBe(path.join(sb.home, "svc", ".jarvis", "jarvis.json"));
  });

  test("without HOME, USERPROFILE is the home; $include gets the one-time warning", async () => {
    const sb = sandbox();
    sb.writeConfig({ $include: "./more.json5", agents: { defaults: { model: "openai/gpt-5.2" } } });
    const r = await runRO(sb, ["models", "status", "--json"], { env: { HOME: undefined, USERPROFILE: sb.home }, secrets: SECRETS });
    expect(r.code).toBe(0);
    expect(r.doc.configPath).toBe(sb.configPath);
    expect(r.doc.resolvedDefault).toBe("openai/gpt-5.2");
    const msg = "$include is not supported by jarvis; included files are not read";
    expect(r.doc.auth.warnings).toEqual([{ code: "include_unsupported", message: msg }]);
    expect(r.stderr).toBe(`warning: ${msg}\n`);
  });

  test("--agent selects a configured agent, its agentDir and model; unknown agents list the configured ones", async () => {
    const sb = sandbox();
    const workDir = tmp();
    sb.writeConfig({
      agents: {
        defaults: { model: "anthropic/claude-opus-4-6" },
        list: [{ id: "main" }, { id: "Work", agentDir: workDir, model: { fallbacks: ["openai/gpt-5.2"] } }],
      },
    });
    fs.writeFileSync(
      path.join(workDir, "auth-profiles.json"),
      JSON.stringify({ version: 1, profiles: { "openai:w": { type: "api_key", provider: "openai", key: fake.openaiKey } } }),
    );
    const [w, m, u, t] = await Promise.all([
      status(sb, ["--json", "--agent", "WORK"], {}, [workDir]),
      status(sb, ["--json"], {}, [workDir]),
      status(sb, ["--json", "--agent", "ops"]),
      status(sb, ["--agent", "work"], {}, [workDir]),
    ]);
    expect(w.doc.agentId).toBe("work");
    expect(w.doc.agentDir).toBe(workDir);
    expect(w.doc.auth.storePath).toBe(path.join(workDir, "auth-profiles.json"));
    expect(w.doc.fallbacks).toEqual(["openai/gpt-5.2"]);
    expect(w.doc.modelConfig).toEqual({ defaultSource: "defaults", fallbacksSource: "agent" });
    expect(providerOf(w.doc, "openai").profiles.labels).toEqual(["openai:w=sk-proj-…cdef"]);
    expect(m.doc.agentId).toBe("main");
    expect(m.doc.auth.storeStatus).toBe("missing");
    expect(u.code).toBe(64);
    expect(u.stdout).toBe("");
    expect(u.stderr).toBe('error: Unknown agent id "ops". Configured agents: main, work.\n');
    expect(lineStarting(t.stdout, "Agent dir")).toBe(`Agent dir     : ${workDir}`);
  });

  test("default agent from agents.list; JARVIS_AGENT_DIR overrides the dir but --agent beats it", async () => {
    const sb = sandbox();
    const envDir = tmp();
    sb.writeConfig({ agents: { list: [{ id: "main" }, { id: "ops", default: true }] } });
    fs.writeFileSync(
      path.join(envDir, "auth-profiles.json"),
      JSON.stringify({ version: 1, profiles: { "anthropic:env": { type: "api_key", provider: "anthropic", key: fake.anthropicKey } } }),
    );
    const [d, e, f] = await Promise.all([
      status(sb, ["--json"]),
      status(sb, ["--json"], { JARVIS_AGENT_DIR: envDir }, [envDir]),
      status(sb, ["--json", "--agent", "main"], { JARVIS_AGENT_DIR: envDir }, [envDir]),
    ]);
    expect(d.doc.agentId).toBe("ops");
    expect(d.doc.agentDir).toBe(path.join(sb.state, "agents", "ops", "agent"));
    expect(e.doc.agentId).toBe("ops");
    expect(e.doc.agentDir).toBe(envDir);
    expect(providerOf(e.doc, "anthropic").profiles.labels).toEqual(["anthropic:env=sk-ant-a…abcd"]);
    expect(f.doc.agentId).toBe("main");
    expect(f.doc.agentDir).toBe(sb.agentDir);
  });
});

describe("config errors and ${VAR} (01 §3)", () => {
  test("invalid JSON5: exit 1 with line and column; --json prints the error document", async () => {
    const sb = sandbox();
    sb.writeConfig('{\n  agents: {\n    defaults: { model: "a/b" \n  }\n  oops\n}');
    const [t, j, jc] = await Promise.all([status(sb, []), status(sb, ["--json"]), status(sb, ["--json", "--check"])]);
    const message = `Invalid config ${sb.configPath}: invalid character 'o' at line 5, column 3`;
    expect(t.code).toBe(1);
    expect(t.stdout).toBe("");
    expect(t.stderr).toBe(`error: ${message}\n`);
    for (const r of [j, jc]) {
      expect(r.code).toBe(1);
      expect(r.doc).toEqual({ ok: false, error: { code: "config_invalid", message } });
    }
  });

  test("wrong types name the dot path (first errors, one per line)", async () => {
    const sb = sandbox();
    sb.writeConfig({ agents: { defaults: { model: 42 }, list: [{ id: "main", default: "yes" }] }, gateway: { port: 70000 } });
    const [t, j] = await Promise.all([status(sb, []), status(sb, ["--json"])]);
    expect(t.code).toBe(1);
    expect(t.stderr).toBe(
      `error: Invalid config ${sb.configPath}: agents.defaults.model: expected string or {primary?: string, fallbacks?: string[]}\n` +
        "agents.list.0.default: expected boolean\ngateway.port: expected integer 1-65535\n",
    );
    expect(j.doc.error.code).toBe("config_invalid");
  });

  test("${VAR}: replaced from the effective env, exact ${NAME} in apiKey is an env ref, missing is exit 1", async () => {
    const sb = sandbox();
    sb.writeConfig({
      agents: { defaults: { model: "${MODEL_REF}" } },
      models: { providers: { openai: { apiKey: "${OPENAI_API_KEY}", baseUrl: "https://$${LITERAL}/v1" } } },
    });
    sb.write(path.join(sb.state, ".env"), "MODEL_REF=openai/gpt-5.2\n");
    const [ok, noKey] = await Promise.all([status(sb, ["--json", "--check"], { OPENAI_API_KEY: fake.openaiKey }), status(sb, ["--json", "--check"])]);
    expect(ok.doc.defaultModel).toBe("openai/gpt-5.2");
    expect(providerOf(ok.doc, "openai").config).toEqual({ value: "ref(env:OPENAI_API_KEY)", source: "jarvis.json: models.providers.openai.apiKey", shadowed: true });
    expect(ok.code).toBe(0);
    // Without the variable the ref is unresolved (reported, not fatal) and the provider in use has no credential.
    expect(noKey.code).toBe(1);
    expect(noKey.doc.auth.unresolvedRefs).toEqual([
      {
        provider: "openai",
        path: "models.providers.openai.apiKey",
        ref: { source: "env", provider: "default", id: "OPENAI_API_KEY" },
        error: 'Environment variable "OPENAI_API_KEY" is missing or empty.',
      },
    ]);
    expect(noKey.doc.check.failures).toEqual([{ code: "unresolved_ref", provider: "openai" }]);
    fs.rmSync(path.join(sb.state, ".env"));
    const [t, j] = await Promise.all([status(sb, []), status(sb, ["--json"])]);
    expect(t.code).toBe(1);
    expect(t.stderr).toBe("error: Config agents.defaults.model references ${MODEL_REF}, which is not set\n");
    expect(j.doc).toEqual({ ok: false, error: { code: "config_invalid", message: "Config agents.defaults.model references ${MODEL_REF}, which is not set" } });
  });

  test("config credential: plaintext masked and shadowed by env; markers", async () => {
    const sb = sandbox();
    sb.writeConfig({
      agents: { defaults: { model: "openrouter/auto", models: { "mistral/m": {}, "groq/g": {} } } },
      models: { providers: { openrouter: { apiKey: fake.openrouterKey }, mistral: { apiKey: "secretref-managed" }, groq: { apiKey: "GROQ_API_KEY" } } },
    });
    const [a, b] = await Promise.all([status(sb, ["--json", "--check"]), status(sb, ["--json", "--check"], { OPENROUTER_API_KEY: fake.openaiKey, GROQ_API_KEY: fake.groq(1) })]);
    expect(providerOf(a.doc, "openrouter")).toMatchObject({
      effective: { kind: "config", detail: "sk-or-v1…XYZW" },
      config: { value: "sk-or-v1…XYZW", source: "jarvis.json: models.providers.openrouter.apiKey", shadowed: false },
    });
    expect(a.doc.auth.missingProvidersInUse).toEqual(["groq", "mistral"]);
    expect(a.code).toBe(1);
    expect(providerOf(b.doc, "openrouter")).toMatchObject({ effective: { kind: "env", detail: "sk-proj-…cdef" }, config: { shadowed: true } });
    expect(providerOf(b.doc, "groq").config).toMatchObject({ value: "marker(GROQ_API_KEY)" });
    expect(b.doc.auth.missingProvidersInUse).toEqual(["mistral"]);
  });
});
