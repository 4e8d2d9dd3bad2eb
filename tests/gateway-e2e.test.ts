// `jarvis gateway` end to end (spec 07 §2, §3, §5, §6): the compiled gateway in a temp HOME (only HOME and PATH in
// its env) in front of a loopback fake provider, driven with plain HTTP. Every test checks the fake's request log
// (exactly which credential went upstream), the store's usageStats where outcomes are recorded, and that no fixture
// secret shows up in a response or on the gateway's stderr.
import { beforeAll, describe, expect, test } from "bun:test";
import { runJarvis, sandbox, type Sandbox } from "./helpers.ts";
import type { FakeProvider } from "./fake-provider.ts";
import { configFor, credsSeen, eventually, keys, readJson, sessionsFile, sseData, startGateway, storeWith, type Gateway, useGatewayFixtures } from "./gateway-helpers.ts";

const fixtures = useGatewayFixtures();
let fake: FakeProvider;
beforeAll(() => {
  fake = fixtures.fake;
});

const RATE_LIMITED = { status: 429, body: { type: "error", error: { type: "rate_limit_error", message: "Rate limited" } } };
const hi = (extra: Record<string, unknown> = {}) => ({ messages: [{ role: "user", content: "hi" }], ...extra });

/** A sandbox with `profiles` (id → key), a config pointing at the fake, and a running gateway. */
async function setup(
  profiles: Record<string, string>,
  opts: { chain?: { primary?: string; fallbacks?: string[] }; config?: Record<string, any>; env?: Record<string, string>; store?: Record<string, unknown> } = {},
): Promise<{ sb: Sandbox; gw: Gateway; from: number }> {
  const sb = sandbox();
  if (Object.keys(profiles).length || opts.store) sb.writeStore(storeWith(profiles, opts.store));
  sb.writeConfig(configFor(fake, opts.chain, opts.config));
  const gw = await startGateway(sb, { env: opts.env });
  return { sb, gw, from: fake.requests.length };
}

function resetScripts(): void {
  fake.script("*", {});
  for (const k of Object.values(keys)) fake.script(k, {});
}

describe("routing and recording", () => {
  test("a chat completion goes upstream with exactly the profile's credential and is recorded", async () => {
    resetScripts();
    const { sb, gw, from } = await setup({ "anthropic:a": keys.a });
    const r = await gw.chat(hi());
    expect(r.status).toBe(200);
    expect(r.json.object).toBe("chat.completion");
    expect(r.json.model).toBe("anthropic/claude-opus-4-6");
    expect(r.json.choices[0].message).toEqual({ role: "assistant", content: "OK from fake" });
    expect(r.json.usage).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
    expect(r.headers.get("x-jarvis-session")).toBe("main");
    expect(r.headers.get("x-jarvis-model")).toBe("anthropic/claude-opus-4-6");
    expect(r.headers.get("x-jarvis-credential")).toBe("anthropic:a");
    const sent = fake.requests.slice(from);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.path).toBe("/v1/messages");
    expect(sent[0]!.headers["x-api-key"]).toBe(keys.a);
    expect(sent[0]!.headers.authorization).toBeUndefined();
    expect(sent[0]!.body.model).toBe("claude-opus-4-6");
    const stats = await eventually(() => {
      const s = sb.readStore().usageStats["anthropic:a"];
      expect(s.lastUsed).toBeGreaterThan(Date.now() - 60_000);
      return s;
    });
    expect(stats.errorCount ?? 0).toBe(0);
    await gw.waitFor(/POST \/v1\/chat\/completions 200 \d+ms session=main model=anthropic\/claude-opus-4-6 credential=anthropic:a attempts=1/);
    gw.expectClean();
  });

  test("openai-compatible: Bearer credential, model rewritten to the ref, google: x-goog-api-key", async () => {
    resetScripts();
    const { gw, from } = await setup({ "openai:o": keys.openai }, { chain: { primary: "openai/gpt-5.2" } });
    const r = await gw.chat(hi());
    expect(r.status).toBe(200);
    expect(r.json.model).toBe("openai/gpt-5.2");
    const sent = fake.requests.slice(from);
    expect(sent.map((x) => [x.path, x.headers.authorization])).toEqual([["/v1/chat/completions", `Bearer ${keys.openai}`]]);
    expect(sent[0]!.body.model).toBe("gpt-5.2");
    gw.expectClean();
  });

  test("round robin across sessions; a session's auto pin keeps its profile; usageStats show both", async () => {
    resetScripts();
    const { sb, gw, from } = await setup({ "anthropic:a": keys.a, "anthropic:b": keys.b });
    for (const s of ["s1", "s2", "s3", "s1", "s2"]) expect((await gw.chat(hi(), { session: s })).status).toBe(200);
    // s1 → a (both unused, id order), s2 → b (a now used), s3 → a (oldest lastUsed); s1/s2 keep their auto pins.
    expect(credsSeen(fake, from)).toEqual(["a", "b", "a", "a", "b"]);
    await eventually(() => {
      const store = sb.readStore();
      expect(store.usageStats["anthropic:a"].lastUsed).toBeGreaterThan(0);
      expect(store.usageStats["anthropic:b"].lastUsed).toBeGreaterThan(0);
    });
    const sessions = readJson(sessionsFile(sb)).sessions;
    expect(sessions.s1).toMatchObject({ authProfileOverride: "anthropic:a", authProfileOverrideSource: "auto" });
    expect(sessions.s2).toMatchObject({ authProfileOverride: "anthropic:b", authProfileOverrideSource: "auto" });
    gw.expectClean();
  });

  test("failover to the next profile on 429: cooldown recorded (model-scoped), the client sees only the success", async () => {
    resetScripts();
    fake.script(keys.a, RATE_LIMITED);
    const { sb, gw, from } = await setup({ "anthropic:a": keys.a, "anthropic:b": keys.b });
    const r = await gw.chat(hi());
    expect(r.status).toBe(200);
    expect(r.headers.get("x-jarvis-credential")).toBe("anthropic:b");
    expect(credsSeen(fake, from)).toEqual(["a", "b"]);
    const st = sb.readStore().usageStats;
    expect(st["anthropic:a"]).toMatchObject({ errorCount: 1, cooldownReason: "rate_limit", cooldownModel: "claude-opus-4-6", failureCounts: { rate_limit: 1 } });
    expect(st["anthropic:a"].cooldownUntil - st["anthropic:a"].lastFailureAt).toBe(60_000);
    await eventually(() => expect(sb.readStore().usageStats["anthropic:b"].lastUsed).toBeGreaterThan(0));
    await gw.waitFor(/auth profile anthropic:a: rate_limit → cooldown until \S+Z \(error #1\)/);
    await gw.waitFor(/credential=anthropic:b attempts=2/);
    // The next call (another session) skips the cooling profile without asking upstream.
    const n = fake.requests.length;
    expect((await gw.chat(hi(), { session: "other" })).headers.get("x-jarvis-credential")).toBe("anthropic:b");
    expect(credsSeen(fake, n)).toEqual(["b"]);
    gw.expectClean();
  });

  test("failover to the fallback model when every profile of the primary fails", async () => {
    resetScripts();
    fake.script(keys.a, { status: 401, body: { type: "error", error: { type: "authentication_error", message: "invalid x-api-key" } } });
    const { sb, gw, from } = await setup({ "anthropic:a": keys.a, "openai:o": keys.openai }, { chain: { fallbacks: ["openai/gpt-5.2"] } });
    const r = await gw.chat(hi());
    expect(r.status).toBe(200);
    expect(r.json.model).toBe("openai/gpt-5.2");
    expect(r.headers.get("x-jarvis-credential")).toBe("openai:o");
    expect(credsSeen(fake, from)).toEqual(["a", "openai"]);
    expect(sb.readStore().usageStats["anthropic:a"]).toMatchObject({ errorCount: 1, cooldownReason: "auth" });
    gw.expectClean();
  });

  test("env key rotation on 429: next key of ANTHROPIC_API_KEYS, not on 500", async () => {
    resetScripts();
    fake.script(keys.env1, RATE_LIMITED);
    const { gw, from } = await setup({}, { env: { ANTHROPIC_API_KEYS: `${keys.env1},${keys.env2}` } });
    const r = await gw.chat(hi());
    expect(r.status).toBe(200);
    expect(r.headers.get("x-jarvis-credential")).toBe("env:ANTHROPIC_API_KEYS");
    expect(credsSeen(fake, from)).toEqual(["env1", "env2"]);
    // A 500 is not a rotation trigger: one attempt, 504 upstream_timeout.
    fake.script(keys.env1, { status: 500, body: { error: { type: "api_error", message: "boom" } } });
    const n = fake.requests.length;
    const r2 = await gw.chat(hi());
    expect(r2.status).toBe(504);
    expect(r2.json.error.code).toBe("upstream_timeout");
    expect(credsSeen(fake, n)).toEqual(["env1"]);
    gw.expectClean();
  });

  test("a 400 from upstream (format) neither fails over nor is recorded", async () => {
    resetScripts();
    fake.script(keys.a, { status: 400, body: { type: "error", error: { type: "invalid_request_error", message: "messages: field required" } } });
    const { sb, gw, from } = await setup({ "anthropic:a": keys.a, "anthropic:b": keys.b, "openai:o": keys.openai }, { chain: { fallbacks: ["openai/gpt-5.2"] } });
    const before = sb.readStore();
    const r = await gw.chat(hi());
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("upstream_invalid_request");
    expect(r.json.error.message).toContain("messages: field required");
    expect(credsSeen(fake, from)).toEqual(["a"]);
    expect(sb.readStore().usageStats ?? {}).toEqual(before.usageStats ?? {});
    gw.expectClean();
  });

  test("all candidates failed: aggregated message, last classification, Retry-After", async () => {
    resetScripts();
    fake.script(keys.a, RATE_LIMITED);
    fake.script(keys.b, RATE_LIMITED);
    fake.script(keys.openai, { status: 429, body: { error: { type: "rate_limit_exceeded", message: "slow down" } } });
    const { gw, from } = await setup({ "anthropic:a": keys.a, "anthropic:b": keys.b, "openai:o": keys.openai }, { chain: { fallbacks: ["openai/gpt-5.2"] } });
    const r = await gw.chat(hi());
    expect(r.status).toBe(429);
    expect(r.json.error.code).toBe("upstream_rate_limit");
    expect(r.json.error.message).toMatch(
      /^All candidates failed: anthropic\/claude-opus-4-6: rate_limit \(anthropic:a, anthropic:b\); openai\/gpt-5\.2: rate_limit \(openai:o\)\. Soonest cooldown ends \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 1m\)\.$/,
    );
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(59);
    expect(Number(r.headers.get("retry-after"))).toBeLessThanOrEqual(60);
    expect(credsSeen(fake, from)).toEqual(["a", "b", "openai"]);
    gw.expectClean();
  });

  test("all profiles cooling: one early try when the window ends within 2 minutes, else 429 without a call", async () => {
    resetScripts();
    const now = Date.now();
    const cooling = (ms: number) => ({ "anthropic:a": { errorCount: 1, lastFailureAt: now - 1000, cooldownUntil: now + ms, cooldownReason: "rate_limit" } });
    const soon = await setup({ "anthropic:a": keys.a }, { store: { usageStats: cooling(30_000) } });
    const r = await soon.gw.chat(hi());
    expect(r.status).toBe(200);
    expect(credsSeen(fake, soon.from)).toEqual(["a"]);
    await eventually(() => expect(soon.sb.readStore().usageStats["anthropic:a"].cooldownUntil).toBeUndefined());
    const late = await setup({ "anthropic:a": keys.a, "anthropic:b": keys.b }, { store: { usageStats: { ...cooling(600_000), "anthropic:b": { cooldownUntil: now + 900_000, cooldownReason: "rate_limit" } } } });
    const r2 = await late.gw.chat(hi());
    expect(r2.status).toBe(429);
    expect(r2.json.error.code).toBe("all_profiles_unavailable");
    expect(r2.json.error.message).toMatch(/^All candidates failed: anthropic\/claude-opus-4-6: rate_limit \(anthropic:a, anthropic:b\)\. Soonest cooldown ends \S+Z \(in 10m\)\.$/);
    expect(Number(r2.headers.get("retry-after"))).toBeGreaterThan(590);
    expect(Number(r2.headers.get("retry-after"))).toBeLessThanOrEqual(600);
    expect(fake.requests.length).toBe(late.from);
  });

  test("overloaded: one profile rotation after a backoff, then the next model", async () => {
    resetScripts();
    const overloaded = { status: 529, body: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } };
    fake.script(keys.a, overloaded);
    fake.script(keys.b, overloaded);
    const { sb, gw, from } = await setup({ "anthropic:a": keys.a, "anthropic:b": keys.b, "anthropic:c": keys.c, "openai:o": keys.openai }, { chain: { fallbacks: ["openai/gpt-5.2"] } });
    const t0 = Date.now();
    const r = await gw.chat(hi());
    expect(r.status).toBe(200);
    expect(r.json.model).toBe("openai/gpt-5.2");
    expect(credsSeen(fake, from)).toEqual(["a", "b", "openai"]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const st = sb.readStore().usageStats;
    expect(st["anthropic:a"].cooldownReason).toBe("overloaded");
    expect(st["anthropic:b"].cooldownReason).toBe("overloaded");
    expect(st["anthropic:c"]).toBeUndefined();
  });

  test("no credentials at all: the no_credentials text naming the store and the fix", async () => {
    resetScripts();
    const { gw, from } = await setup({});
    const r = await gw.chat(hi());
    expect(r.status).toBe(502);
    expect(r.json.error.code).toBe("no_credentials");
    expect(r.json.error.message).toBe(
      'No API key found for provider "anthropic". Auth store: ~/.jarvis/agents/main/agent/auth-profiles.json (agent main). Configure auth on the gateway host: set ANTHROPIC_API_KEY in ~/.jarvis/.env, or run jarvis models auth paste-token --provider anthropic.',
    );
    expect(r.headers.get("retry-after")).toBeNull();
    expect(fake.requests.length).toBe(from);
  });

  test("an upstream error echoing the key is redacted in the response and the log", async () => {
    resetScripts();
    fake.script(keys.a, { status: 401, body: { type: "error", error: { type: "authentication_error", message: `invalid x-api-key ${keys.a}` } } });
    const { gw } = await setup({ "anthropic:a": keys.a });
    const r = await gw.chat(hi());
    expect(r.status).toBe(502);
    expect(r.json.error.code).toBe("upstream_auth");
    gw.expectClean();
  });
});

describe("streaming", () => {
  test("SSE chunks, a final chunk with finish_reason, then [DONE]", async () => {
    resetScripts();
    fake.script(keys.a, { reply: "one two three" });
    const { sb, gw, from } = await setup({ "anthropic:a": keys.a });
    const r = await gw.chat(hi({ stream: true }));
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toStartWith("text/event-stream");
    expect(r.headers.get("x-jarvis-credential")).toBe("anthropic:a");
    const data = sseData(r.text);
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1);
    for (const c of chunks) {
      expect(c.object).toBe("chat.completion.chunk");
      expect(c.model).toBe("anthropic/claude-opus-4-6");
    }
    expect(chunks.map((c) => c.choices[0].delta.content ?? "").join("")).toBe("one two three");
    expect(chunks.at(-1).choices[0].finish_reason).toBe("stop");
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null)).toBe(true);
    expect(fake.requests.slice(from).map((x) => x.body.stream)).toEqual([true]);
    await eventually(() => expect(sb.readStore().usageStats["anthropic:a"].lastUsed).toBeGreaterThan(0));
    gw.expectClean();
  });

  test("openai passthrough stream: chunks forwarded with the model rewritten", async () => {
    resetScripts();
    const { gw } = await setup({ "openai:o": keys.openai }, { chain: { primary: "openai/gpt-5.2" } });
    const r = await gw.chat(hi({ stream: true }));
    const data = sseData(r.text);
    expect(data.at(-1)).toBe("[DONE]");
    expect(data.filter((d) => d === "[DONE]")).toHaveLength(1);
    expect(data.slice(0, -1).every((c) => c.model === "openai/gpt-5.2")).toBe(true);
    expect(data.slice(0, -1).map((c) => c.choices[0].delta.content ?? "").join("")).toBe("OK from fake");
  });

  test("a mid-stream provider error: error chunk + [DONE] after the content, failure recorded", async () => {
    resetScripts();
    fake.script(keys.a, { reply: "one two three", streamErrorAfter: 2 });
    const { sb, gw, from } = await setup({ "anthropic:a": keys.a, "anthropic:b": keys.b });
    const r = await gw.chat(hi({ stream: true }));
    expect(r.status).toBe(200);
    const data = sseData(r.text);
    expect(data.at(-1)).toBe("[DONE]");
    // The client code of the 07 §6 table (the same as a non-streaming answer would carry), not the bare reason.
    const err = data.at(-2);
    expect(err.error).toMatchObject({ code: "upstream_overloaded", type: "api_error" });
    expect(err.error.message).toContain("Overloaded");
    const content = data.slice(0, -2).map((c) => c.choices?.[0]?.delta?.content ?? "").join("");
    expect(content).toBe("one two ");
    // Committed to a: no silent switch to b after content was sent.
    expect(credsSeen(fake, from)).toEqual(["a"]);
    await gw.waitFor(/auth profile anthropic:a: overloaded → cooldown until/);
    expect(sb.readStore().usageStats["anthropic:a"]).toMatchObject({ errorCount: 1, cooldownReason: "overloaded" });
    gw.expectClean();
  });

  test("mid-stream error codes follow the 07 §6 table: unknown → upstream_error, rate limit → upstream_rate_limit", async () => {
    resetScripts();
    fake.script(keys.openai, { reply: "one two three", streamErrorAfter: 1 });
    const { gw } = await setup({ "openai:o": keys.openai }, { chain: { primary: "openai/gpt-5.2" } });
    const unknown = sseData((await gw.chat(hi({ stream: true }))).text);
    expect(unknown.at(-1)).toBe("[DONE]");
    expect(unknown.at(-2).error).toMatchObject({ code: "upstream_error", type: "api_error", message: "upstream stream failed" });
    // A rate limit after content: the code and type a JSON error response for it carries (429 upstream_rate_limit).
    fake.script(keys.openai, { reply: "one two", streamErrorAfter: 1, streamError: { type: "rate_limit_exceeded", message: "Rate limit reached" } });
    const rl = sseData((await gw.chat(hi({ stream: true }), { session: "rl" })).text);
    expect(rl.at(-2).error).toMatchObject({ code: "upstream_rate_limit", type: "rate_limit_error", message: "Rate limit reached" });
    fake.script(keys.openai, { status: 429, body: { error: { type: "rate_limit_exceeded", message: "Rate limit reached" } } });
    const json = await gw.chat(hi({ stream: true }), { session: "json" });
    expect(json.status).toBe(429);
    expect(json.json.error).toMatchObject({ code: rl.at(-2).error.code, type: rl.at(-2).error.type });
    gw.expectClean();
  });

  test("failover before the first content is invisible to the client", async () => {
    resetScripts();
    fake.script(keys.a, { reply: "never", streamErrorAfter: 0 });
    fake.script(keys.b, { reply: "from b" });
    const { sb, gw, from } = await setup({ "anthropic:a": keys.a, "anthropic:b": keys.b });
    const r = await gw.chat(hi({ stream: true }));
    expect(r.status).toBe(200);
    expect(r.headers.get("x-jarvis-credential")).toBe("anthropic:b");
    const data = sseData(r.text);
    expect(r.text).not.toContain("error");
    expect(data.slice(0, -1).map((c) => c.choices[0].delta.content ?? "").join("")).toBe("from b");
    expect(credsSeen(fake, from)).toEqual(["a", "b"]);
    expect(sb.readStore().usageStats["anthropic:a"]).toMatchObject({ cooldownReason: "overloaded" });
    // An HTTP error before any byte of a stream also fails over invisibly.
    fake.script(keys.b, RATE_LIMITED);
    fake.script(keys.a, {});
    const r2 = await gw.chat(hi({ stream: true }), { session: "x" });
    expect(r2.status).toBe(429);
    expect(r2.headers.get("content-type")).toStartWith("application/json");
    gw.expectClean();
  });

  test("every candidate failing before content: a normal JSON error, not a stream", async () => {
    resetScripts();
    fake.script(keys.a, RATE_LIMITED);
    const { gw } = await setup({ "anthropic:a": keys.a });
    const r = await gw.chat(hi({ stream: true }));
    expect(r.status).toBe(429);
    expect(r.headers.get("content-type")).toStartWith("application/json");
    expect(r.json.error.code).toBe("upstream_rate_limit");
    expect(r.headers.get("retry-after")).not.toBeNull();
  });
});

describe("live auth store", () => {
  test("order set by the CLI applies to the next request without a restart", async () => {
    resetScripts();
    const { sb, gw, from } = await setup({ "anthropic:a": keys.a, "anthropic:b": keys.b });
    expect((await gw.chat(hi(), { session: "s1" })).headers.get("x-jarvis-credential")).toBe("anthropic:a");
    const set = await runJarvis(["models", "auth", "order", "set", "--provider", "anthropic", "anthropic:b"], { env: sb.env });
    expect(set.code).toBe(0);
    // b only (a is excluded by the explicit order), also for the session auto-pinned to a.
    expect((await gw.chat(hi(), { session: "s2" })).headers.get("x-jarvis-credential")).toBe("anthropic:b");
    expect((await gw.chat(hi(), { session: "s1" })).headers.get("x-jarvis-credential")).toBe("anthropic:b");
    expect(credsSeen(fake, from)).toEqual(["a", "b", "b"]);
    gw.expectClean();
  });

  test("a profile added with paste-token is used by the next request", async () => {
    resetScripts();
    const { sb, gw, from } = await setup({});
    expect((await gw.chat(hi())).status).toBe(502);
    const paste = await runJarvis(["models", "auth", "paste-token", "--provider", "anthropic", "--profile-id", "anthropic:new", "--type", "api_key"], {
      env: sb.env,
      stdin: `${keys.c}\n`,
    });
    expect(paste.code).toBe(0);
    const r = await gw.chat(hi());
    expect(r.status).toBe(200);
    expect(r.headers.get("x-jarvis-credential")).toBe("anthropic:new");
    expect(credsSeen(fake, from)).toEqual(["c"]);
    gw.expectClean();
  });

  test("a store that turns invalid keeps the last valid snapshot serving, one error logged", async () => {
    resetScripts();
    const { sb, gw } = await setup({ "anthropic:a": keys.a });
    sb.writeStore("{ not json");
    expect((await gw.chat(hi())).status).toBe(200);
    expect((await gw.chat(hi())).status).toBe(200);
    expect(gw.stderr().match(/keeps serving the last valid auth store/g)?.length).toBe(1);
    gw.expectClean();
  });
});

describe("GET /v1/models", () => {
  test("the picker list in order", async () => {
    const { gw } = await setup(
      {},
      {
        chain: { fallbacks: ["openai/gpt-5.2"] },
        config: { agentsDefaults: { models: { "anthropic/claude-sonnet-4-6": { alias: "sonnet" }, "openai/gpt-5.2": {} } } },
      },
    );
    const r = await gw.call("/v1/models");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      object: "list",
      data: [
        { id: "anthropic/claude-opus-4-6", object: "model", created: 0, owned_by: "anthropic" },
        { id: "openai/gpt-5.2", object: "model", created: 0, owned_by: "openai" },
        { id: "anthropic/claude-sonnet-4-6", object: "model", created: 0, owned_by: "anthropic" },
      ],
    });
  });
});
