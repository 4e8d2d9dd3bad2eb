// `jarvis models status --probe` end to end (spec 04 §7, 07 §5–§7, 02 §4, 03 §7): the compiled binary against the
// loopback fake provider, pointed at via `models.providers.<id>.baseUrl`. What was sent is read from the fake's
// request log; what was recorded is read from the store; every output is scanned for every fixture secret.
import { afterAll, describe, expect, test } from "bun:test";
import { cleanupSandboxes, expectNoSecrets, fake, json, sandbox, type RunResult, type Sandbox } from "./helpers.ts";
import { startFakeProvider, type FakeProvider } from "./fake-provider.ts";

afterAll(cleanupSandboxes);

const MIN = 60_000;
const H = 3_600_000;

// Fixture secrets: unique per test so the fake can script them and the scan can find them.
const groq = (n: number) => fake.groq(n);
const gem = (n: number) => `AIzaTESTFAKE${String(n).padStart(4, "0")}gemini0123456789`;
const k = (name: string) => `${name}-TESTFAKE-0123456789abcdef`;
const K = {
  anthA: fake.anthropicKey,
  anthB: fake.anthropicToken,
  anthC: "sk-ant-api03-TESTFAKE-excluded-0123456789abcdef",
  oaiX: k("oai-x"),
  oaiY: k("oai-y"),
  oaiZ: k("oai-z"),
  oaiS: k("oai-s"),
  oaiQ: k("oai-q"),
  oaiU: k("oai-u"),
  oaiV: k("oai-v"),
  goo: gem(77),
  grq: groq(77),
  mis: k("mistral-p"),
  orr: fake.openrouterKey,
  acme: k("acme-p"),
};
const ALL_SECRETS = [...Object.values(K), ...Array.from({ length: 16 }, (_, i) => groq(i)), ...Array.from({ length: 6 }, (_, i) => gem(i))];

const rateLimited = { status: 429, body: { error: { type: "rate_limit_error", message: "rate limit exceeded" } } };
const overloaded = { status: 529, body: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } };

/** Config pointing every named provider at the fake. */
function pointAt(fp: FakeProvider, ids: string[], extra: Record<string, object> = {}): object {
  return { models: { providers: Object.fromEntries(ids.map((id) => [id, { baseUrl: fp.url, ...(extra[id] ?? {}) }])) } };
}

async function probe(sb: Sandbox, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const r = await sb.run(["models", "status", ...args], { env });
  expectNoSecrets(r, ALL_SECRETS);
  return r;
}

function resultsOf(r: RunResult): any[] {
  return json(r).auth.probes.results;
}

/** Credentials the fake saw, in order, limited to `among`. */
function tried(fp: FakeProvider, among: readonly string[]): string[] {
  return fp.requests.map((q) => q.credential!).filter((c) => among.includes(c));
}

/**
 * Each request carries exactly its credential, in the one expected header, and no other fixture secret anywhere
 * (headers or body).
 */
function expectCleanRequests(fp: FakeProvider) {
  expect(fp.requests.length).toBeGreaterThan(0);
  for (const q of fp.requests) {
    const cred = q.credential!;
    expect(ALL_SECRETS).toContain(cred);
    const carrying = Object.entries(q.headers).filter(([, v]) => v.includes(cred)).map(([h]) => h);
    const anthropic = q.path.endsWith("/messages");
    const google = q.path.includes(":generateContent");
    const expected = anthropic ? (cred.includes("sk-ant-oat") ? "authorization" : "x-api-key") : google ? "x-goog-api-key" : "authorization";
    expect(carrying).toEqual([expected]);
    if (expected === "authorization") expect(q.headers.authorization).toBe(`Bearer ${cred}`);
    else expect(q.headers[expected]).toBe(cred);
    for (const h of ["x-api-key", "x-goog-api-key", "authorization"]) if (h !== expected) expect(q.headers[h]).toBeUndefined();
    if (anthropic) expect(q.headers["anthropic-beta"]).toBe(cred.includes("sk-ant-oat") ? "oauth-2025-04-20" : undefined);
    const everything = JSON.stringify(q.headers) + JSON.stringify(q.body);
    for (const s of ALL_SECRETS) if (s !== cred) expect(everything).not.toContain(s);
    expect(JSON.stringify(q.body)).not.toContain(cred);
  }
}

const CLAUDE_ONLY = "This credential is only authorized for use with Claude Code and cannot be used for other API requests.";
const CLAUDE_HINT =
  "This Anthropic credential (a Claude subscription setup-token/OAuth token) is only authorized for Claude Code. Use an Anthropic API key instead: set ANTHROPIC_API_KEY in ~/.jarvis/.env, or run jarvis models auth paste-token --provider anthropic and paste an sk-ant-api… key.";

describe("env key rotation (02 §4)", () => {
  test("groq: list with duplicates, _2 before _10 before _b, tried in order on 429 until one works", async () => {
    const fp = startFakeProvider();
    try {
      const sb = sandbox();
      // Configured headers are the lowest layer: the credential's own header always wins (07 §7).
      sb.writeConfig(pointAt(fp, ["groq", "google"], { groq: { headers: { "X-Team": "blue", Authorization: "Bearer configured-not-sent" } } }));
      for (let i = 1; i <= 5; i++) fp.script(groq(i), rateLimited);
      for (let i = 0; i <= 2; i++) fp.script(gem(i), { status: 429, body: { error: { code: 429, status: "RESOURCE_EXHAUSTED", message: "Quota exceeded" } } });
      const env = {
        GROQ_API_KEYS: `${groq(1)}; ${groq(2)}\n${groq(1)}`,
        GROQ_API_KEY: groq(3),
        GROQ_API_KEY_10: groq(5),
        GROQ_API_KEY_2: groq(4),
        GROQ_API_KEY_3: groq(2),
        GROQ_API_KEY_b: groq(6),
        GEMINI_API_KEYS: `${gem(0)},${gem(1)}`,
        GEMINI_API_KEY: gem(1),
        GEMINI_API_KEY_1: gem(2),
        GOOGLE_API_KEY: gem(3),
      };
      const r = await probe(sb, ["--json", "--probe", "--probe-concurrency", "1"], env);
      expect(r.code).toBe(0);
      expect(tried(fp, [1, 2, 3, 4, 5, 6].map(groq))).toEqual([1, 2, 3, 4, 5, 6].map(groq));
      // GOOGLE_API_KEY comes last, after the suffix vars (D5), though it is one of google's extra key vars.
      expect(tried(fp, [0, 1, 2, 3].map(gem))).toEqual([0, 1, 2, 3].map(gem));
      const res = resultsOf(r);
      expect(res.find((x) => x.provider === "groq")).toEqual({
        provider: "groq",
        model: "groq/llama-3.1-8b-instant",
        label: "env",
        source: "env",
        mode: "api_key",
        status: "ok",
        latencyMs: expect.any(Number),
        httpStatus: 200,
        keysTried: 6,
      });
      expect(res.find((x) => x.provider === "google")).toMatchObject({ status: "ok", keysTried: 4, httpStatus: 200, model: "google/gemini-2.5-flash" });
      for (const q of fp.requests.filter((q) => q.path.endsWith("/chat/completions"))) {
        expect(q.headers["x-team"]).toBe("blue");
        expect(q.body).toEqual({ model: "llama-3.1-8b-instant", messages: [{ role: "user", content: "Reply with OK." }], max_tokens: 8 });
      }
      for (const q of fp.requests.filter((q) => q.path.includes("gemini"))) {
        expect(q.path).toBe("/models/gemini-2.5-flash:generateContent");
        expect(q.body).toEqual({ contents: [{ role: "user", parts: [{ text: "Reply with OK." }] }], generationConfig: { maxOutputTokens: 8 } });
      }
      expectCleanRequests(fp);
      // Env targets record nothing and create no store.
      expect(await Bun.file(sb.storePath).exists()).toBe(false);
    } finally {
      fp.stop();
    }
  });

  test("JARVIS_LIVE_GROQ_KEY replaces the whole list; when every key fails, the last error is reported", async () => {
    const fp = startFakeProvider();
    try {
      const sb = sandbox();
      sb.writeConfig(pointAt(fp, ["groq", "xai"]));
      fp.script(groq(9), rateLimited);
      fp.script(groq(1), { status: 429, body: { error: { message: "first key: rate limit exceeded" } } });
      fp.script(groq(2), { status: 429, body: { error: { message: "second key: rate limit exceeded" } } });
      const base = { GROQ_API_KEYS: `${groq(1)},${groq(2)}`, GROQ_API_KEY: groq(3) };
      const live = await probe(sb, ["--json", "--probe", "--probe-provider", "groq"], { ...base, JARVIS_LIVE_GROQ_KEY: groq(9) });
      expect(tried(fp, [1, 2, 3, 9].map(groq))).toEqual([groq(9)]);
      expect(resultsOf(live)).toEqual([
        expect.objectContaining({ provider: "groq", status: "rate_limit", httpStatus: 429, keysTried: 1, error: "HTTP 429: rate limit exceeded" }),
      ]);

      fp.requests.length = 0;
      fp.script(groq(3), { status: 429, body: { error: { message: "third key: tokens per minute exhausted" } } });
      const all = await probe(sb, ["--json", "--probe", "--probe-provider", "groq"], base);
      expect(tried(fp, [1, 2, 3].map(groq))).toEqual([1, 2, 3].map(groq));
      expect(resultsOf(all)).toEqual([
        {
          provider: "groq",
          model: "groq/llama-3.1-8b-instant",
          label: "env",
          source: "env",
          mode: "api_key",
          status: "rate_limit",
          reasonCode: "rate_limit",
          error: "HTTP 429: third key: tokens per minute exhausted",
          latencyMs: expect.any(Number),
          httpStatus: 429,
          keysTried: 3,
        },
      ]);
      expectCleanRequests(fp);
    } finally {
      fp.stop();
    }
  });

  test("a Claude-Code-only refusal of an env token: status auth with the API-key hint, the next env key is not tried", async () => {
    const fp = startFakeProvider();
    try {
      const sb = sandbox();
      sb.writeConfig(pointAt(fp, ["anthropic"]));
      fp.script(K.anthB, { status: 400, body: { type: "error", error: { type: "invalid_request_error", message: CLAUDE_ONLY } } });
      const env = { ANTHROPIC_OAUTH_TOKEN: K.anthB, ANTHROPIC_API_KEY: K.anthA };
      const [j, t] = await Promise.all([probe(sb, ["--json", "--probe"], env), probe(sb, ["--probe"], env)]);
      expect(resultsOf(j)).toEqual([
        {
          provider: "anthropic",
          model: "anthropic/claude-opus-4-6",
          label: "env",
          source: "env",
          mode: "token",
          status: "auth",
          reasonCode: "auth_permanent",
          error: `HTTP 400: ${CLAUDE_ONLY} ${CLAUDE_HINT}`,
          latencyMs: expect.any(Number),
          httpStatus: 400,
          keysTried: 1,
        },
      ]);
      expect(t.stdout).toContain(`  ↳ HTTP 400: ${CLAUDE_ONLY} ${CLAUDE_HINT}`);
      expect(tried(fp, [K.anthA, K.anthB])).toEqual([K.anthB, K.anthB]);
      // jarvis sends the token as itself: Bearer + the one beta flag, no borrowed identity.
      for (const q of fp.requests) {
        expect(Object.keys(q.headers).filter((h) => h.startsWith("anthropic-") || h === "x-app" || h === "user-agent").sort()).toEqual(
          ["anthropic-beta", "anthropic-version", ...(q.headers["user-agent"] !== undefined ? ["user-agent"] : [])].sort(),
        );
        expect(q.headers["user-agent"] ?? "").not.toMatch(/claude|anthropic/i);
        expect(q.body.system).toBeUndefined();
      }
      expectCleanRequests(fp);
    } finally {
      fp.stop();
    }
  });

  test("only a rotation trigger rotates: 401/403/400/500/529/overload stop at the first key", async () => {
    const fp = startFakeProvider();
    try {
      const sb = sandbox();
      const providers = ["xai", "mistral", "together", "deepseek", "cerebras", "openai", "groq"];
      sb.writeConfig(pointAt(fp, providers));
      // Two keys per provider; the first one fails, the second would work.
      const cases: Record<string, { script: object; status: string; httpStatus: number; reason: string }> = {
        xai: { script: { status: 401, body: { error: { message: `Incorrect API key provided: ${groq(0)}` } } }, status: "auth", httpStatus: 401, reason: "auth" },
        mistral: { script: { status: 403, body: { error: { message: "forbidden" } } }, status: "auth", httpStatus: 403, reason: "auth" },
        together: { script: { status: 400, body: { error: { message: "invalid request" } } }, status: "format", httpStatus: 400, reason: "format" },
        deepseek: { script: { status: 500, body: { error: { message: "rate limit on internal service" } } }, status: "timeout", httpStatus: 500, reason: "timeout" },
        cerebras: { script: overloaded, status: "rate_limit", httpStatus: 529, reason: "overloaded" },
        openai: { script: { status: 429, body: { error: { message: "The server is overloaded" } } }, status: "rate_limit", httpStatus: 429, reason: "overloaded" },
        groq: { script: { status: 402, body: { error: { message: "Insufficient credits" } } }, status: "billing", httpStatus: 402, reason: "billing" },
      };
      const env: Record<string, string> = {};
      providers.forEach((p, i) => {
        env[`${p.toUpperCase()}_API_KEYS`] = `${groq(2 * i)},${groq(2 * i + 1)}`;
        fp.script(groq(2 * i), cases[p]!.script);
      });
      const r = await probe(sb, ["--json", "--probe", "--probe-concurrency", "8"], env);
      expect(r.code).toBe(0);
      const res = resultsOf(r);
      providers.forEach((p, i) => {
        expect(tried(fp, [groq(2 * i), groq(2 * i + 1)])).toEqual([groq(2 * i)]);
        const c = cases[p]!;
        expect(res.find((x) => x.provider === p)).toMatchObject({ source: "env", status: c.status, reasonCode: c.reason, httpStatus: c.httpStatus, keysTried: 1 });
      });
      // The 401 body echoed the key: the probe error shows it masked (02 §6), never whole.
      expect(res.find((x) => x.provider === "xai").error).toBe("HTTP 401: Incorrect API key provided: gsk_TEST…qkey");
      expectCleanRequests(fp);
    } finally {
      fp.stop();
    }
  });
});

/** The profile matrix of one run: every status and reason code of 04 §7.1/§7.3. */
function matrixStore(now: number) {
  const p = (provider: string, type: string, fields: object) => ({ type, provider, ...fields });
  return {
    version: 1,
    profiles: {
      "anthropic:a": p("anthropic", "api_key", { key: K.anthA }),
      "anthropic:b": p("anthropic", "token", { token: K.anthB }),
      "anthropic:c": p("anthropic", "api_key", { key: K.anthC }),
      "openai:x": p("openai", "api_key", { key: K.oaiX }),
      "openai:y": p("openai", "token", { token: K.oaiY }),
      "openai:z": p("openai", "api_key", { key: K.oaiZ }),
      "openai:s": p("openai", "api_key", { key: K.oaiS }),
      "openai:q": p("openai", "api_key", { key: K.oaiQ }),
      "openai:w": p("openai", "api_key", { keyRef: { source: "env", provider: "default", id: "OPENAI_W_KEY" } }),
      "openai:t": p("openai", "api_key", { key: "" }),
      "openai:u": p("openai", "token", { token: K.oaiU, expires: 1_700_000_000 }),
      "openai:v": p("openai", "token", { token: K.oaiV, expires: now - 2 * H }),
      "google:g": p("google", "api_key", { key: K.goo }),
      "groq:f": p("groq", "api_key", { key: K.grq }),
      "mistral:m": p("mistral", "api_key", { key: K.mis }),
      "openrouter:r": p("openrouter", "api_key", { key: K.orr }),
      "acme:k": p("acme", "api_key", { key: K.acme }),
    },
    order: { anthropic: ["anthropic:b", "anthropic:a"] },
    usageStats: {
      "openai:x": { lastUsed: now - 1000 },
      "openai:z": { lastUsed: now - 5000 },
      "openai:s": { cooldownUntil: now + 10 * MIN, cooldownReason: "rate_limit", errorCount: 1, lastFailureAt: now - MIN },
      "openai:q": { disabledUntil: now + 4 * H, disabledReason: "billing", errorCount: 1, lastFailureAt: now - H },
      "anthropic:b": { errorCount: 3, failureCounts: { unknown: 3 }, lastFailureAt: now - 30 * MIN, cooldownUntil: now - 5 * MIN, cooldownReason: "unknown" },
    },
  };
}

function scriptMatrix(fp: FakeProvider) {
  fp.script(K.anthB, { reply: "OK" });
  fp.script(K.anthA, rateLimited);
  fp.script(K.oaiY, { status: 401, body: { error: { type: "invalid_request_error", code: "invalid_api_key", message: `Incorrect API key provided: ${K.oaiY}.` } } });
  fp.script(K.oaiZ, { status: 404, body: { error: { message: "The model does not exist" } } });
  fp.script(K.oaiX, { reply: "OK" });
  fp.script(K.goo, { status: 402, body: { error: { code: 402, message: "Insufficient balance: add more credits" } } });
  fp.script(K.grq, { status: 400, body: { error: { message: "messages: invalid" } } });
  fp.script(K.mis, { delayMs: 2500 });
  fp.script(K.orr, rateLimited);
}

const MATRIX_PROVIDERS = ["anthropic", "openai", "google", "groq", "mistral", "openrouter", "acme"];
const matrixConfig = (fp: FakeProvider) => pointAt(fp, MATRIX_PROVIDERS, { acme: { api: "openai-completions" } });
const MATRIX_ARGS = ["--probe", "--probe-timeout", "700", "--probe-concurrency", "7"];

describe("profiles: every status and reason code, order, recording", () => {
  const ineligible = (code: string, detail: string | RegExp) =>
    expect.stringMatching(new RegExp(`^Auth profile credentials are missing or expired\\.\\n↳ Auth reason \\[${code}\\]: ${typeof detail === "string" ? detail.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") : detail.source}$`));

  test("JSON auth.probes (04 §7.4) and what was recorded (03 §7)", async () => {
    const fp = startFakeProvider();
    try {
      const sb = sandbox();
      sb.writeConfig(matrixConfig(fp));
      const t0 = Date.now();
      sb.writeStore(matrixStore(t0));
      scriptMatrix(fp);
      const r = await probe(sb, ["--json", ...MATRIX_ARGS]);
      const t1 = Date.now();
      expect(r.code).toBe(0);
      const doc = json(r);
      // `auth.probes` follows `auth.oauth`.
      expect(Object.keys(doc.auth).slice(-2)).toEqual(["oauth", "probes"]);
      const probes = doc.auth.probes;
      expect(Object.keys(probes)).toEqual(["startedAt", "finishedAt", "durationMs", "totalTargets", "options", "results"]);
      expect(probes.options).toEqual({ provider: null, profileIds: [], timeoutMs: 700, concurrency: 7, maxTokens: 8 });
      expect(probes.startedAt).toBeGreaterThanOrEqual(t0);
      expect(probes.finishedAt).toBeLessThanOrEqual(t1);
      expect(probes.durationMs).toBe(probes.finishedAt - probes.startedAt);
      // Called: anthropic b, a; openai y, z, x; google g; groq f; mistral m; openrouter r.
      expect(probes.totalTargets).toBe(9);

      const called = (provider: string, model: string, id: string, mode: string, rest: object) => ({
        provider,
        model,
        profileId: id,
        label: id,
        source: "profile",
        mode,
        ...rest,
      });
      const ok = { status: "ok", latencyMs: expect.any(Number), httpStatus: 200 };
      const failed = (status: string, reasonCode: string, httpStatus: number, error: unknown) => ({ status, reasonCode, error, latencyMs: expect.any(Number), httpStatus });
      const notCalled = (status: string, reasonCode: string, error: unknown) => ({ status, reasonCode, error });
      const opus = "anthropic/claude-opus-4-6";
      const mini = "openai/gpt-5-mini";
      expect(probes.results).toEqual([
        // Grouped by provider id; no probe model for a custom provider without models.
        { provider: "acme", profileId: "acme:k", label: "acme:k", source: "profile", mode: "api_key", status: "no_model", reasonCode: "no_model", error: "No model available for probe" },
        // Explicit order kept (b before a although a api_key…); c is excluded by it.
        called("anthropic", opus, "anthropic:b", "token", ok),
        called("anthropic", opus, "anthropic:a", "api_key", failed("rate_limit", "rate_limit", 429, "HTTP 429: rate limit exceeded")),
        called("anthropic", opus, "anthropic:c", "api_key", notCalled("unknown", "excluded_by_auth_order", "Excluded by auth.order for this provider.")),
        called("google", "google/gemini-2.5-flash", "google:g", "api_key", failed("billing", "billing", 402, "HTTP 402: Insufficient balance: add more credits")),
        called("groq", "groq/llama-3.1-8b-instant", "groq:f", "api_key", failed("format", "format", 400, "HTTP 400: messages: invalid")),
        // No response within --probe-timeout.
        { ...called("mistral", "mistral/mistral-small-latest", "mistral:m", "api_key", { status: "timeout", reasonCode: "timeout", error: "request timed out", latencyMs: expect.any(Number) }) },
        // Round robin: token first, then api_keys by lastUsed (w never used: 0), cooling ones last by window end.
        called("openai", mini, "openai:y", "token", failed("auth", "auth_permanent", 401, "HTTP 401: Incorrect API key provided: oai-y-TE…cdef.")),
        called("openai", mini, "openai:w", "api_key", notCalled("unknown", "unresolved_ref", ineligible("unresolved_ref", 'Environment variable "OPENAI_W_KEY" is missing or empty.'))),
        called("openai", mini, "openai:z", "api_key", failed("unknown", "model_not_found", 404, "HTTP 404: The model does not exist")),
        called("openai", mini, "openai:x", "api_key", ok),
        called("openai", mini, "openai:s", "api_key", notCalled("unknown", "cooldown", expect.stringMatching(/^In cooldown \(rate_limit\) until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; name it with --probe-profile to test it now\.$/))),
        called("openai", mini, "openai:q", "api_key", notCalled("unknown", "disabled", expect.stringMatching(/^In cooldown \(billing\) until \S+Z; name it with --probe-profile to test it now\.$/))),
        called("openai", mini, "openai:t", "api_key", notCalled("unknown", "missing_credential", ineligible("missing_credential", /.+/))),
        called("openai", mini, "openai:u", "token", notCalled("unknown", "invalid_expires", ineligible("invalid_expires", "looks like seconds; expected epoch milliseconds"))),
        called("openai", mini, "openai:v", "token", notCalled("unknown", "expired", ineligible("expired", /.*\d{4}-\d\d-\d\dT.*/))),
        called("openrouter", "openrouter/openrouter/auto", "openrouter:r", "api_key", failed("rate_limit", "rate_limit", 429, "HTTP 429: rate limit exceeded")),
      ]);
      // Key order of a called result as in 04 §7.4.
      expect(Object.keys(probes.results[1])).toEqual(["provider", "model", "profileId", "label", "source", "mode", "status", "latencyMs", "httpStatus"]);
      const timeoutResult = probes.results.find((x: any) => x.profileId === "mistral:m");
      expect(timeoutResult.latencyMs).toBeGreaterThanOrEqual(650);
      expect(timeoutResult.latencyMs).toBeLessThan(2500);

      // Exactly the called profiles' credentials went out, in order per provider.
      const sent = fp.requests.map((q) => q.credential);
      expect(tried(fp, [K.anthB, K.anthA, K.anthC])).toEqual([K.anthB, K.anthA]);
      expect(tried(fp, [K.oaiX, K.oaiY, K.oaiZ, K.oaiS, K.oaiQ, K.oaiU, K.oaiV])).toEqual([K.oaiY, K.oaiZ, K.oaiX]);
      expect(sent.length).toBe(9);
      expectCleanRequests(fp);
      const anth = fp.requests.find((q) => q.credential === K.anthB)!;
      expect(anth.path).toBe("/v1/messages");
      expect(anth.body).toEqual({ model: "claude-opus-4-6", max_tokens: 8, messages: [{ role: "user", content: [{ type: "text", text: "Reply with OK." }] }] });
      expect(fp.requests.find((q) => q.credential === K.oaiX)!.body).toEqual({ model: "gpt-5-mini", messages: [{ role: "user", content: "Reply with OK." }], max_completion_tokens: 8 });
      expect(fp.requests.find((q) => q.credential === K.orr)!.headers["x-title"]).toBe("jarvis");

      const st = sb.readStore();
      const u = st.usageStats;
      // 429 → cooldown 1 m, scoped to the probe model.
      const a = u["anthropic:a"];
      expect(a).toEqual({ errorCount: 1, failureCounts: { rate_limit: 1 }, lastFailureAt: expect.any(Number), cooldownUntil: a.lastFailureAt + MIN, cooldownReason: "rate_limit", cooldownModel: "claude-opus-4-6" });
      expect(a.lastFailureAt).toBeGreaterThanOrEqual(t0);
      expect(a.lastFailureAt).toBeLessThanOrEqual(t1);
      // Success clears counters and windows, keeps lastFailureAt, sets lastGood.
      expect(u["anthropic:b"]).toEqual({ lastUsed: expect.any(Number), errorCount: 0, lastFailureAt: t0 - 30 * MIN });
      expect(u["openai:x"]).toEqual({ lastUsed: expect.any(Number), errorCount: 0 });
      expect(u["openai:x"].lastUsed).toBeGreaterThanOrEqual(t0);
      expect(st.lastGood).toEqual({ anthropic: "anthropic:b", openai: "openai:x" });
      // billing → disabled 5 h; auth_permanent (invalid_api_key) → disabled 10 min.
      const g = u["google:g"];
      expect(g).toEqual({ errorCount: 1, failureCounts: { billing: 1 }, lastFailureAt: expect.any(Number), disabledUntil: g.lastFailureAt + 5 * H, disabledReason: "billing" });
      const y = u["openai:y"];
      expect(y).toMatchObject({ disabledUntil: y.lastFailureAt + 10 * MIN, disabledReason: "auth_permanent", errorCount: 1 });
      // Not recorded: format, timeout, model_not_found; openrouter never cools down; untouched profiles unchanged.
      for (const id of ["groq:f", "mistral:m", "openrouter:r", "openai:w", "openai:t", "anthropic:c"]) expect(u[id]).toBeUndefined();
      for (const id of ["openai:z", "openai:s", "openai:q"] as const) expect(u[id]).toEqual(matrixStore(t0).usageStats[id]);
      expect(st.profiles).toEqual(matrixStore(t0).profiles);
      expect(r.stderr).toContain("auth profile anthropic:a: rate_limit → cooldown until ");
    } finally {
      fp.stop();
    }
  });

  test("text table: Model / Profile / Status, ↳ first error line, footer", async () => {
    const fp = startFakeProvider();
    try {
      const sb = sandbox();
      sb.writeConfig(matrixConfig(fp));
      sb.writeStore(matrixStore(Date.now()));
      scriptMatrix(fp);
      const r = await probe(sb, MATRIX_ARGS);
      expect(r.code).toBe(0);
      const lines = r.stdout.split("\n");
      const at = lines.indexOf("Auth probes");
      expect(at).toBeGreaterThan(0);
      expect(lines[at + 1]).toMatch(/^Model\s+Profile\s+Status$/);
      const table = lines.slice(at + 2, lines.findIndex((l) => l.startsWith("Probed ")) + 1);
      const row = (model: string, id: string, status: string) => new RegExp(`^${model.replace(/\//g, "\\/")}\\s+${id}\\s+${status}$`);
      const expectRow = (re: RegExp, errorLine?: string) => {
        const i = table.findIndex((l) => re.test(l));
        expect(i).toBeGreaterThanOrEqual(0);
        if (errorLine === undefined) expect(table[i + 1]!.startsWith("  ↳")).toBe(false);
        else expect(table[i + 1]).toBe(`  ↳ ${errorLine}`);
      };
      expectRow(row("anthropic/claude-opus-4-6", "anthropic:b", "ok · \\d+\\.\\ds"));
      expectRow(row("anthropic/claude-opus-4-6", "anthropic:a", "rate_limit · \\d+\\.\\ds"), "HTTP 429: rate limit exceeded");
      expectRow(row("anthropic/claude-opus-4-6", "anthropic:c", "unknown \\(excluded_by_auth_order\\)"), "Excluded by auth.order for this provider.");
      expectRow(row("mistral/mistral-small-latest", "mistral:m", "timeout · \\d+\\.\\ds"), "request timed out");
      expectRow(row("openai/gpt-5-mini", "openai:v", "unknown \\(expired\\)"), "Auth profile credentials are missing or expired.");
      expectRow(row("-", "acme:k", "no_model"), "No model available for probe");
      expectRow(row("google/gemini-2.5-flash", "google:g", "billing · \\d+\\.\\ds"), "HTTP 402: Insufficient balance: add more credits");
      expect(table.at(-1)).toMatch(/^Probed 9 targets in \d+\.\ds$/);
      expect(r.stdout).toContain("oai-y-TE…cdef");
    } finally {
      fp.stop();
    }
  });

  test("cooling profiles: skipped unless named; a retry never extends the window; success clears it", async () => {
    const fp = startFakeProvider();
    try {
      const sb = sandbox();
      sb.writeConfig(pointAt(fp, ["anthropic", "openrouter"]));
      const t0 = Date.now();
      const until = t0 + 3 * MIN;
      sb.writeStore({
        version: 1,
        profiles: {
          "anthropic:a": { type: "api_key", provider: "anthropic", key: K.anthA },
          "anthropic:b": { type: "token", provider: "anthropic", token: K.anthB },
          "openrouter:r": { type: "api_key", provider: "openrouter", key: K.orr },
        },
        usageStats: {
          "anthropic:a": { errorCount: 1, failureCounts: { rate_limit: 1 }, lastFailureAt: t0 - 2 * MIN, cooldownUntil: until, cooldownReason: "rate_limit" },
          // openrouter never cools down (D19): a stored window is ignored.
          "openrouter:r": { cooldownUntil: until, cooldownReason: "rate_limit" },
        },
      });
      fp.script(K.anthA, rateLimited);
      fp.script(K.orr, rateLimited);

      const skipped = await probe(sb, ["--json", "--probe"]);
      let res = resultsOf(skipped);
      expect(res.map((x) => [x.profileId, x.status, x.reasonCode])).toEqual([
        ["anthropic:b", "ok", undefined],
        ["anthropic:a", "unknown", "cooldown"],
        ["openrouter:r", "rate_limit", "rate_limit"],
      ]);
      expect(tried(fp, [K.anthA, K.anthB, K.orr])).toEqual([K.anthB, K.orr]);
      expect(sb.readStore().usageStats["openrouter:r"]).toEqual({ cooldownUntil: until, cooldownReason: "rate_limit" });

      // Named: probed despite the cooldown; the 429 counts but the window keeps its end.
      fp.requests.length = 0;
      const again = await probe(sb, ["--json", "--probe", "--probe-profile", "anthropic:a"]);
      res = resultsOf(again);
      expect(res).toEqual([expect.objectContaining({ profileId: "anthropic:a", status: "rate_limit", httpStatus: 429 })]);
      expect(json(again).auth.probes.options.profileIds).toEqual(["anthropic:a"]);
      expect(tried(fp, [K.anthA, K.anthB, K.orr])).toEqual([K.anthA]);
      const a = sb.readStore().usageStats["anthropic:a"];
      expect(a).toMatchObject({ errorCount: 2, failureCounts: { rate_limit: 2 }, cooldownUntil: until, cooldownReason: "rate_limit" });

      // Success (comma list form of --probe-profile): everything cleared, lastGood set.
      fp.requests.length = 0;
      fp.script(K.anthA, { reply: "OK" });
      const good = await probe(sb, ["--json", "--probe", "--probe-profile", "anthropic:a,openrouter:r"]);
      expect(resultsOf(good).map((x) => [x.profileId, x.status])).toEqual([
        ["anthropic:a", "ok"],
        ["openrouter:r", "rate_limit"],
      ]);
      const st = sb.readStore();
      expect(st.usageStats["anthropic:a"]).toEqual({ errorCount: 0, lastFailureAt: a.lastFailureAt, lastUsed: expect.any(Number) });
      expect(st.lastGood).toEqual({ anthropic: "anthropic:a" });
      // The status report after the probes shows the state they left behind: no unusable profiles.
      expect(json(good).auth.unusableProfiles).toEqual([]);
      expectCleanRequests(fp);
    } finally {
      fp.stop();
    }
  });
});

describe("usage errors", () => {
  test("--probe-* without --probe exits 64 with no JSON", async () => {
    const sb = sandbox();
    const flags: Array<[string, string]> = [
      ["--probe-provider", "groq"],
      ["--probe-profile", "anthropic:a"],
      ["--probe-timeout", "100"],
      ["--probe-concurrency", "2"],
      ["--probe-max-tokens", "8"],
    ];
    const runs = await Promise.all(flags.map(([f, v]) => sb.run(["models", "status", "--json", f, v])));
    runs.forEach((r, i) => {
      expect(r.code).toBe(64);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`${flags[i]![0]} requires --probe.`);
    });
    const bad = await sb.run(["models", "status", "--probe", "--probe-timeout", "0"]);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain("--probe-timeout must be a positive number (ms).");
    const plain = await sb.run(["models", "status", "--probe", "--plain"]);
    expect(plain.code).toBe(64);
    expect(plain.stderr).toContain("--probe cannot be used with --plain output.");
  });
});
