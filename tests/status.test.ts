// The status model (spec 04 §2–§6) as a pure function: the spec's own §5.1/§5.3 scenario, profile health rows,
// roll-ups and the `--check` verdict with its warn-window boundaries.
import { describe, expect, test } from "bun:test";
import type { JarvisConfig } from "../lib/config.ts";
import type { EffectiveEnv, EnvOrigin } from "../lib/env.ts";
import { computeStatus, type RefResolution, type StatusInput } from "../lib/status.ts";
import { renderStatusText } from "../lib/status-text.ts";
import { interpretStore } from "../lib/store.ts";

const HOME = "/home/u";
const STATE = `${HOME}/.jarvis`;
const AGENT_DIR = `${STATE}/agents/main/agent`;
const STORE = `${AGENT_DIR}/auth-profiles.json`;
const DAY = 86_400_000;
const H = 3_600_000;
// The instant of the spec example: the cooldown ends 240 s later, the codex login expired 2 days earlier.
const NOW = 1_795_939_805_000;

const show = (p: string) => (p.startsWith(HOME + "/") ? "~" + p.slice(HOME.length) : p);

function env(rec: Record<string, [string, EnvOrigin]> = {}): EffectiveEnv {
  const vars = new Map(Object.entries(rec).map(([k, [value, origin]]) => [k, { value, origin }]));
  return { vars, warnings: [], shellEnvFallback: { enabled: false, appliedKeys: [] } };
}

function input(over: Partial<StatusInput> & { doc?: unknown }): StatusInput {
  const { doc, ...rest } = over;
  return {
    configPath: `${STATE}/jarvis.json`,
    agentId: "main",
    agentDir: AGENT_DIR,
    config: {},
    env: env(),
    store: interpretStore(doc ?? {}, STORE),
    refs: new Map(),
    secretDefaults: {},
    legacyFiles: [],
    extraWarnings: [],
    now: NOW,
    warnWithinMs: DAY,
    check: true,
    showPath: show,
    ...rest,
  };
}

// Fixture secrets shaped so that their masks equal the spec example's.
const K = {
  anthropicDefault: "sk-ant-api03-TESTFAKE-TESTFAKE-3f2c",
  anthropicManual: "sk-ant-oat01-TESTFAKE-TESTFAKE-Qk9A",
  anthropicEnv: "sk-ant-api03-TESTFAKE-TESTFAKE-77aa",
  openrouterEnv: "sk-or-v1-TESTFAKE-TESTFAKE-9d0e",
  openrouterConfig: "sk-or-v1-TESTFAKE-TESTFAKE-c0de",
};

describe("spec example (04 §5.1 / §5.3)", () => {
  const config: JarvisConfig = {
    agents: {
      defaults: {
        model: { primary: "anthropic/claude-opus-4-6", fallbacks: ["openai/gpt-5.2", "openrouter/moonshotai/kimi-k2"] },
        models: { "anthropic/claude-sonnet-4-6": { alias: "sonnet" } },
      },
    },
    models: { providers: { openrouter: { apiKey: K.openrouterConfig } } },
  };
  const doc = {
    version: 1,
    profiles: {
      "anthropic:default": { type: "api_key", provider: "anthropic", key: K.anthropicDefault },
      "anthropic:manual": { type: "token", provider: "anthropic", token: K.anthropicManual },
      "openai:work": { type: "api_key", provider: "openai", keyRef: { source: "env", provider: "default", id: "OPENAI_WORK_KEY" } },
      "openai-codex:me@example.com": {
        type: "oauth",
        provider: "openai-codex",
        access: "TESTFAKE-access-token-value",
        refresh: "TESTFAKE-refresh-token-value",
        expires: 1795767005000,
        accountId: "acct_TESTFAKE",
        email: "me@example.com",
      },
    },
    usageStats: {
      "anthropic:default": {
        lastUsed: 1795900000000,
        errorCount: 1,
        cooldownUntil: 1795940045000,
        cooldownReason: "rate_limit",
        cooldownModel: "claude-opus-4-6",
        failureCounts: { rate_limit: 1 },
        lastFailureAt: 1795900000000,
      },
    },
  };
  const refs = new Map<string, RefResolution>([
    ["env:default:OPENAI_WORK_KEY", { ok: false, error: 'Environment variable "OPENAI_WORK_KEY" is missing or empty.' }],
  ]);
  const scenario = (check: boolean) =>
    computeStatus(
      input({
        config,
        doc,
        refs,
        check,
        env: env({ ANTHROPIC_API_KEY: [K.anthropicEnv, "state-dotenv"], OPENROUTER_API_KEY: [K.openrouterEnv, "process"] }),
      }),
    );

  test("JSON document equals the spec's, key order included", () => {
    const expected = {
      configPath: "/home/u/.jarvis/jarvis.json",
      agentId: "main",
      agentDir: "/home/u/.jarvis/agents/main/agent",
      defaultModel: "anthropic/claude-opus-4-6",
      resolvedDefault: "anthropic/claude-opus-4-6",
      fallbacks: ["openai/gpt-5.2", "openrouter/moonshotai/kimi-k2"],
      imageModel: null,
      imageFallbacks: [],
      modelConfig: { defaultSource: "defaults", fallbacksSource: "defaults" },
      aliases: { sonnet: "anthropic/claude-sonnet-4-6" },
      allowed: ["anthropic/claude-sonnet-4-6"],
      auth: {
        storePath: "/home/u/.jarvis/agents/main/agent/auth-profiles.json",
        storeStatus: "ok",
        shellEnvFallback: { enabled: false, appliedKeys: [] },
        providersWithOAuth: ["anthropic (1)", "openai-codex (1)"],
        providersInUse: ["anthropic", "openai", "openrouter"],
        missingProvidersInUse: [],
        providers: [
          {
            provider: "anthropic",
            inUse: true,
            effective: { kind: "profiles", detail: "/home/u/.jarvis/agents/main/agent/auth-profiles.json", profileId: "anthropic:manual" },
            profiles: {
              count: 2,
              oauth: 0,
              token: 1,
              apiKey: 1,
              labels: ["anthropic:manual=token:sk-ant-o…Qk9A", "anthropic:default=sk-ant-a…3f2c [cooldown 4m rate_limit]"],
            },
            env: { value: "sk-ant-a…77aa", source: "env: ANTHROPIC_API_KEY", origin: "state-dotenv", keyCount: 1, shadowed: true },
          },
          {
            provider: "openai",
            inUse: true,
            effective: { kind: "profiles", detail: "/home/u/.jarvis/agents/main/agent/auth-profiles.json", profileId: "openai:work" },
            profiles: { count: 1, oauth: 0, token: 0, apiKey: 1, labels: ["openai:work=ref(env:OPENAI_WORK_KEY) unresolved"] },
          },
          {
            provider: "openai-codex",
            inUse: false,
            effective: { kind: "profiles", detail: "/home/u/.jarvis/agents/main/agent/auth-profiles.json", profileId: "openai-codex:me@example.com" },
            profiles: { count: 1, oauth: 1, token: 0, apiKey: 0, labels: ["openai-codex:me@example.com=OAuth (me@example.com)"] },
          },
          {
            provider: "openrouter",
            inUse: true,
            effective: { kind: "env", detail: "sk-or-v1…9d0e" },
            profiles: { count: 0, oauth: 0, token: 0, apiKey: 0, labels: [] },
            env: { value: "sk-or-v1…9d0e", source: "env: OPENROUTER_API_KEY", origin: "process", keyCount: 1, shadowed: false },
            config: { value: "sk-or-v1…c0de", source: "jarvis.json: models.providers.openrouter.apiKey", shadowed: true },
          },
        ],
        unusableProfiles: [
          {
            profileId: "anthropic:default",
            provider: "anthropic",
            kind: "cooldown",
            reason: "rate_limit",
            model: "claude-opus-4-6",
            until: 1795940045000,
            remainingMs: 240000,
          },
        ],
        invalidProfiles: [],
        unresolvedRefs: [
          {
            profileId: "openai:work",
            provider: "openai",
            ref: { source: "env", provider: "default", id: "OPENAI_WORK_KEY" },
            error: 'Environment variable "OPENAI_WORK_KEY" is missing or empty.',
          },
        ],
        legacyFiles: [],
        warnings: [],
        oauth: {
          warnAfterMs: 86400000,
          profiles: [
            { profileId: "anthropic:default", provider: "anthropic", type: "api_key", status: "static", source: "store", label: "anthropic:default" },
            { profileId: "anthropic:manual", provider: "anthropic", type: "token", status: "static", source: "store", label: "anthropic:manual" },
            {
              profileId: "openai:work",
              provider: "openai",
              type: "api_key",
              status: "unresolved",
              reasonCode: "unresolved_ref",
              ref: { source: "env", provider: "default", id: "OPENAI_WORK_KEY" },
              source: "store",
              label: "openai:work",
            },
            {
              profileId: "openai-codex:me@example.com",
              provider: "openai-codex",
              type: "oauth",
              status: "expired",
              reasonCode: "expired",
              expiresAt: 1795767005000,
              remainingMs: -172800000,
              refreshable: true,
              fix: "jarvis models auth refresh --profile-id openai-codex:me@example.com",
              source: "store",
              label: "openai-codex:me@example.com (me@example.com)",
            },
          ],
          providers: [
            { provider: "anthropic", status: "static", profiles: ["anthropic:default", "anthropic:manual"] },
            { provider: "openai", status: "unresolved", profiles: ["openai:work"] },
            { provider: "openai-codex", status: "expired", profiles: ["openai-codex:me@example.com"], expiresAt: 1795767005000, remainingMs: -172800000 },
            { provider: "openrouter", status: "static", profiles: [] },
          ],
        },
      },
      check: {
        exitCode: 1,
        warnWithinMs: 86400000,
        failures: [
          { code: "expired", provider: "openai-codex", profileId: "openai-codex:me@example.com" },
          { code: "unresolved_ref", provider: "openai", profileId: "openai:work" },
        ],
        warnings: [],
      },
    };
    // Stringify both: compares values and key order exactly as `--json` prints them.
    expect(JSON.stringify(scenario(true), null, 2)).toBe(JSON.stringify(expected, null, 2));
  });

  test("text equals the spec's §5.1 block", () => {
    const lines = renderStatusText(scenario(false), show, "~/.jarvis/.env");
    expect(lines.join("\n")).toBe(
      [
        "Config        : ~/.jarvis/jarvis.json",
        "Agent         : main",
        "Agent dir     : ~/.jarvis/agents/main/agent",
        "Default       : anthropic/claude-opus-4-6",
        "Fallbacks (2) : openai/gpt-5.2, openrouter/moonshotai/kimi-k2",
        "Image model   : -",
        "Image fallbacks (0): -",
        "Aliases (1)   : sonnet -> anthropic/claude-sonnet-4-6",
        "Configured models (1): anthropic/claude-sonnet-4-6",
        "",
        "Auth overview",
        "Auth store    : ~/.jarvis/agents/main/agent/auth-profiles.json",
        "Shell env     : off",
        "Providers w/ OAuth/tokens (2): anthropic (1), openai-codex (1)",
        "- anthropic [in use] effective=profiles:anthropic:manual | profiles=2 (oauth=0, token=1, api_key=1) | anthropic:manual=token:sk-ant-o…Qk9A, anthropic:default=sk-ant-a…3f2c [cooldown 4m rate_limit] | env=sk-ant-a…77aa (shadowed) | source=env: ANTHROPIC_API_KEY (~/.jarvis/.env)",
        "- openai [in use] effective=profiles:openai:work | profiles=1 (oauth=0, token=0, api_key=1) | openai:work=ref(env:OPENAI_WORK_KEY) unresolved",
        "- openai-codex effective=profiles:openai-codex:me@example.com | profiles=1 (oauth=1, token=0, api_key=0) | openai-codex:me@example.com=OAuth (me@example.com)",
        "- openrouter [in use] effective=env:sk-or-v1…9d0e | env=sk-or-v1…9d0e | source=env: OPENROUTER_API_KEY (env) | config=sk-or-v1…c0de (shadowed)",
        "",
        "Unusable profiles",
        "- anthropic:default cooldown rate_limit (model claude-opus-4-6) 4m, until 2026-11-29T08:14:05Z — verify now: jarvis models status --probe --probe-profile anthropic:default",
        "",
        "Unresolved refs",
        '- openai:work ref(env:OPENAI_WORK_KEY): Environment variable "OPENAI_WORK_KEY" is missing or empty.',
        "",
        "OAuth/token status (warn within 24h)",
        "- anthropic",
        "  - anthropic:manual static",
        "- openai-codex",
        "  - openai-codex:me@example.com expired 2d ago (refreshable) — fix: jarvis models auth refresh --profile-id openai-codex:me@example.com",
      ].join("\n"),
    );
  });

  test("no check block without --check", () => {
    expect(scenario(false).check).toBeUndefined();
  });
});

/** A one-profile store for provider anthropic (in use by default). */
const tokenDoc = (fields: Record<string, unknown>, stats?: Record<string, unknown>) => ({
  version: 1,
  profiles: { "anthropic:t": { type: "token", provider: "anthropic", token: "tok-TESTFAKE-123456", ...fields } },
  ...(stats ? { usageStats: { "anthropic:t": stats } } : {}),
});
const oauthDoc = (fields: Record<string, unknown>, stats?: Record<string, unknown>) => ({
  version: 1,
  profiles: { "anthropic:o": { type: "oauth", provider: "anthropic", access: "acc-TESTFAKE", ...fields } },
  ...(stats ? { usageStats: { "anthropic:o": stats } } : {}),
});

describe("profile health (04 §4)", () => {
  const rows: Array<[name: string, doc: unknown, expected: Record<string, unknown>]> = [
    ["token without expires → static", tokenDoc({}), { status: "static" }],
    ["token expiring in 5h", tokenDoc({ expires: NOW + 5 * H }), { status: "expiring", expiresAt: NOW + 5 * H, remainingMs: 5 * H }],
    ["token ok in 10d", tokenDoc({ expires: NOW + 10 * DAY }), { status: "ok", remainingMs: 10 * DAY }],
    [
      "token expired",
      tokenDoc({ expires: NOW - H }),
      { status: "expired", reasonCode: "expired", fix: "jarvis models auth paste-token --provider anthropic --profile-id anthropic:t" },
    ],
    ["token without value", tokenDoc({ token: "" }), { status: "missing", reasonCode: "missing_credential" }],
    [
      "token with seconds expires",
      tokenDoc({ expires: Math.floor(NOW / 1000) }),
      { status: "missing", reasonCode: "invalid_expires", hint: "looks like seconds; expected epoch milliseconds" },
    ],
    ["token with string expires", tokenDoc({ expires: String(NOW + DAY) }), { status: "missing", reasonCode: "invalid_expires", hint: undefined }],
    ["oauth without expires", oauthDoc({}), { status: "missing", reasonCode: "invalid_expires" }],
    ["oauth ok", oauthDoc({ expires: NOW + 2 * DAY, refresh: "r-TESTFAKE" }), { status: "ok", refreshable: undefined }],
    [
      "oauth expiring, refreshable",
      oauthDoc({ expires: NOW + H, refresh: "r-TESTFAKE" }),
      { status: "expiring", refreshable: true, fix: "jarvis models auth refresh --profile-id anthropic:o" },
    ],
    [
      "oauth expired with refresh → expired, refreshable",
      oauthDoc({ expires: NOW - 1, refresh: "r-TESTFAKE" }),
      { status: "expired", reasonCode: "expired", refreshable: true, remainingMs: -1 },
    ],
    ["oauth expired without refresh", oauthDoc({ expires: NOW - 1 }), { status: "expired", reasonCode: "expired", refreshable: false }],
    [
      "oauth needsRelogin, not yet expired",
      oauthDoc({ expires: NOW + 10 * DAY, refresh: "r-TESTFAKE" }, { needsRelogin: { reason: "invalid_grant", at: NOW - 1 } }),
      {
        status: "expiring",
        reasonCode: "relogin_required",
        needsRelogin: true,
        fix: "jarvis models auth login --provider anthropic --profile-id anthropic:o",
      },
    ],
    [
      "external oauth expired",
      oauthDoc({ expires: NOW - DAY, external: { source: "claude-code", path: "/h/.claude/.credentials.json" } }),
      {
        status: "expired",
        external: "claude-code",
        refreshable: undefined,
        fix: "open Claude Code so it renews its login, then jarvis models auth import --from claude-code",
      },
    ],
    [
      "anthropic :manual token expired → setup-token fix",
      { version: 1, profiles: { "anthropic:manual": { type: "token", provider: "anthropic", token: "t-TESTFAKE", expires: NOW - 1 } } },
      { status: "expired", fix: "jarvis models auth setup-token --provider anthropic" },
    ],
  ];
  test.each(rows)("%s", (_name, doc, expected) => {
    const r = computeStatus(input({ doc }));
    expect(r.auth.oauth.profiles).toHaveLength(1);
    expect(r.auth.oauth.profiles[0]).toMatchObject(Object.fromEntries(Object.entries(expected).filter(([, v]) => v !== undefined)));
    // `undefined` in a row means "field absent".
    for (const [k, v] of Object.entries(expected)) if (v === undefined) expect(k in r.auth.oauth.profiles[0]!).toBe(false);
  });
});

describe("--check verdict (04 §6)", () => {
  const W = DAY;
  const rows: Array<[name: string, doc: unknown, warnWithinMs: number, exitCode: number]> = [
    ["remaining = warn window → expiring (2)", tokenDoc({ expires: NOW + W }), W, 2],
    ["remaining = warn window + 1 ms → ok (0)", tokenDoc({ expires: NOW + W + 1 }), W, 0],
    ["remaining = 0 → expired (1)", tokenDoc({ expires: NOW }), W, 1],
    ["remaining = 1 ms → expiring (2)", tokenDoc({ expires: NOW + 1 }), W, 2],
    ["--warn-within 48h widens the window", tokenDoc({ expires: NOW + 30 * H }), 48 * H, 2],
    ["--warn-within 48h boundary", tokenDoc({ expires: NOW + 48 * H }), 48 * H, 2],
    ["--warn-within 48h, 1 ms beyond", tokenDoc({ expires: NOW + 48 * H + 1 }), 48 * H, 0],
    ["--warn-within 1h, token in 30h → ok", tokenDoc({ expires: NOW + 30 * H }), H, 0],
    ["static token → ok", tokenDoc({}), W, 0],
    ["missing token value → failed", tokenDoc({ token: " " }), W, 1],
    ["invalid expires → failed", tokenDoc({ expires: 1_800_000_000 }), W, 1],
    ["relogin required → expiring", oauthDoc({ expires: NOW + 10 * DAY, refresh: "r" }, { needsRelogin: { reason: "revoked", at: NOW } }), W, 2],
    ["expired but refreshable oauth still fails (D8)", oauthDoc({ expires: NOW - 1, refresh: "r" }), W, 1],
    ["cooldown does not change the exit code", tokenDoc({}, { cooldownUntil: NOW + H, cooldownReason: "rate_limit" }), W, 0],
    ["disable does not change the exit code", tokenDoc({}, { disabledUntil: NOW + H, disabledReason: "billing" }), W, 0],
    ["no credentials for the provider in use → failed", {}, W, 1],
  ];
  test.each(rows)("%s", (_name, doc, warnWithinMs, exitCode) => {
    const r = computeStatus(input({ doc, warnWithinMs }));
    expect(r.check!.exitCode).toBe(exitCode);
    expect(r.check!.warnWithinMs).toBe(warnWithinMs);
    expect(r.auth.oauth.warnAfterMs).toBe(warnWithinMs);
  });

  test("an expired token of a provider NOT in use still fails; api_key profiles never expire", () => {
    const doc = {
      version: 1,
      profiles: {
        "anthropic:k": { type: "api_key", provider: "anthropic", key: "k-TESTFAKE-1234" },
        "groq:t": { type: "token", provider: "groq", token: "t-TESTFAKE", expires: NOW - 1 },
      },
    };
    const r = computeStatus(input({ doc }));
    expect(r.check).toEqual({
      exitCode: 1,
      warnWithinMs: DAY,
      failures: [{ code: "expired", provider: "groq", profileId: "groq:t" }],
      warnings: [],
    });
  });

  test("unresolved ref of a provider not in use does not fail; in use it does", () => {
    const doc = {
      version: 1,
      profiles: {
        "anthropic:k": { type: "api_key", provider: "anthropic", key: "k-TESTFAKE-1234" },
        "groq:r": { type: "api_key", provider: "groq", keyRef: { source: "env", provider: "default", id: "GROQ_WORK" } },
      },
    };
    const refs = new Map<string, RefResolution>([["env:default:GROQ_WORK", { ok: false, error: "missing" }]]);
    expect(computeStatus(input({ doc, refs })).check!.exitCode).toBe(0);
    const config: JarvisConfig = { agents: { defaults: { model: { primary: "anthropic/x", fallbacks: ["groq/y"] } } } };
    expect(computeStatus(input({ doc, refs, config })).check!.failures).toEqual([{ code: "unresolved_ref", provider: "groq", profileId: "groq:r" }]);
  });

  test("failure groups: profiles, then unresolved refs, then providers without credential; warnings sorted", () => {
    const config: JarvisConfig = {
      agents: { defaults: { model: { primary: "anthropic/x", fallbacks: ["openai/y", "mistral/z", "xai/w"] } } },
      models: { providers: { xai: { apiKey: { source: "env", provider: "default", id: "XAI_MISSING" } } } },
    };
    const doc = {
      version: 1,
      profiles: {
        "openai:r": { type: "api_key", provider: "openai", keyRef: { source: "env", provider: "default", id: "OPENAI_MISSING" } },
        "groq:b": { type: "token", provider: "groq", token: "t1", expires: NOW + H },
        "groq:a": { type: "token", provider: "groq", token: "t2", expires: NOW + 2 * H },
        "anthropic:z": { type: "token", provider: "anthropic", token: "t3", expires: NOW - 1 },
        "anthropic:a": { type: "token", provider: "anthropic", token: "" },
      },
    };
    const refs = new Map<string, RefResolution>([
      ["env:default:OPENAI_MISSING", { ok: false, error: "missing" }],
      ["env:default:XAI_MISSING", { ok: false, error: "missing" }],
    ]);
    const r = computeStatus(input({ doc, refs, config }));
    expect(r.check!.failures).toEqual([
      { code: "missing_credential", provider: "anthropic", profileId: "anthropic:a" },
      { code: "expired", provider: "anthropic", profileId: "anthropic:z" },
      { code: "unresolved_ref", provider: "openai", profileId: "openai:r" },
      { code: "unresolved_ref", provider: "xai" },
      { code: "no_credentials", provider: "anthropic" },
      { code: "no_credentials", provider: "mistral" },
    ]);
    expect(r.check!.warnings).toEqual([
      { code: "expiring", provider: "groq", profileId: "groq:a" },
      { code: "expiring", provider: "groq", profileId: "groq:b" },
    ]);
    expect(r.auth.missingProvidersInUse).toEqual(["anthropic", "mistral", "xai"]);
    const text = renderStatusText(r, show, "~/.jarvis/.env");
    expect(text.at(-1)).toBe(
      "Check: failed — anthropic:a missing_credential, anthropic:z expired, openai:r unresolved_ref, xai unresolved_ref, anthropic no_credentials, mistral no_credentials",
    );
  });
});

describe("roll-ups and listing", () => {
  test("provider roll-up precedence and expiresAt = smallest finite expires", () => {
    const doc = {
      version: 1,
      profiles: {
        "anthropic:a": { type: "token", provider: "anthropic", token: "t1", expires: NOW + 5 * DAY },
        "anthropic:b": { type: "token", provider: "anthropic", token: "t2", expires: NOW + H },
        "anthropic:c": { type: "api_key", provider: "anthropic", key: "k" },
      },
    };
    const r = computeStatus(input({ doc }));
    expect(r.auth.oauth.providers).toEqual([
      { provider: "anthropic", status: "expiring", profiles: ["anthropic:a", "anthropic:b", "anthropic:c"], expiresAt: NOW + H, remainingMs: H },
    ]);
    expect(r.auth.providersWithOAuth).toEqual(["anthropic (2)"]);
  });

  test("env-only provider rolls up static; provider in use without anything is missing", () => {
    const r = computeStatus(input({ env: env({ GROQ_API_KEY: ["gsk_TESTFAKE_0001_groqkey", "process"] }) }));
    expect(r.auth.oauth.providers).toEqual([
      { provider: "anthropic", status: "missing", profiles: [] },
      { provider: "groq", status: "static", profiles: [] },
    ]);
    expect(r.auth.providers.map((p) => p.provider)).toEqual(["groq"]);
  });

  test("token env var counts in providersWithOAuth and shows as OAuth (env)", () => {
    const r = computeStatus(input({ env: env({ ANTHROPIC_OAUTH_TOKEN: ["sk-ant-oat01-TESTFAKE-TESTFAKE-TESTFAKE", "process"] }) }));
    expect(r.auth.providersWithOAuth).toEqual(["anthropic (1)"]);
    expect(r.auth.providers[0]!.effective).toEqual({ kind: "env", detail: "OAuth (env)" });
    expect(r.check!.exitCode).toBe(0);
  });

  test("auth aliases: a volcengine-plan model ref and a volcengine profile meet under one provider", () => {
    const config: JarvisConfig = { agents: { defaults: { model: "volcengine-plan/doubao-pro" } } };
    const doc = { version: 1, profiles: { "volcengine:default": { type: "api_key", provider: "volcengine-plan", key: "k-TESTFAKE-123456" } } };
    const r = computeStatus(input({ config, doc }));
    expect(r.resolvedDefault).toBe("volcengine-plan/doubao-pro");
    expect(r.auth.providersInUse).toEqual(["volcengine"]);
    expect(r.auth.missingProvidersInUse).toEqual([]);
    expect(r.auth.providers.map((p) => [p.provider, p.inUse, p.effective.kind])).toEqual([["volcengine", true, "profiles"]]);
    expect(r.check!.exitCode).toBe(0);
  });

  test("only catalog env var names are markers; other strings are plaintext keys (masked)", () => {
    const config: JarvisConfig = {
      models: { providers: { openai: { apiKey: "MY_PROXY_API_KEY" }, groq: { apiKey: "GROQ_API_KEY" }, acme: { apiKey: "HF_TOKEN" } } },
    };
    const r = computeStatus(input({ config }));
    const by = Object.fromEntries(r.auth.providers.map((p) => [p.provider, p]));
    expect(by.openai!.config!.value).toBe("MY_P…EY");
    expect(by.groq!.config!.value).toBe("marker(GROQ_API_KEY)");
    expect(by.acme!.config!.value).toBe("marker(HF_TOKEN)");
  });

  test("config markers and local keys", () => {
    const config: JarvisConfig = {
      agents: { defaults: { model: { primary: "ollama/llama3", fallbacks: ["openai/x", "mistral/y", "mine/z"] } } },
      models: {
        providers: {
          ollama: {},
          openai: { apiKey: "OPENAI_API_KEY" },
          mistral: { apiKey: "secretref-managed" },
          mine: { baseUrl: "http://127.0.0.1:8080/v1", api: "openai-completions", models: [{ id: "z" }] },
        },
      },
    };
    const r = computeStatus(input({ config, env: env({ OPENAI_API_KEY: ["sk-proj-TESTFAKE-openai-0123456789abcdef", "process"] }) }));
    const by = Object.fromEntries(r.auth.providers.map((p) => [p.provider, p]));
    expect(by.ollama!.effective).toEqual({ kind: "local", detail: "marker(ollama-local)" });
    expect(by.ollama!.config).toEqual({ value: "marker(ollama-local)", source: "jarvis.json: models.providers.ollama.apiKey", shadowed: false });
    expect(by.mine!.config!.source).toBe("jarvis.json: models.providers.mine.apiKey");
    expect(by.mine!.effective).toEqual({ kind: "local", detail: "marker(custom-local)" });
    expect(by.openai!.effective).toEqual({ kind: "env", detail: "sk-proj-…cdef" });
    expect(by.openai!.config).toMatchObject({ value: "marker(OPENAI_API_KEY)", shadowed: true });
    expect(by.mistral!.effective).toEqual({ kind: "missing" });
    expect(by.mistral!.config!.value).toBe("marker(secretref-managed)");
    expect(r.auth.missingProvidersInUse).toEqual(["mistral"]);
  });
});
