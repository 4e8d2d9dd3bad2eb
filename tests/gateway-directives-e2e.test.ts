// `jarvis gateway` directives and sessions end to end (spec 07 §3, §4, D17): `/model` picker, selection,
// `<ref>@<profileId>` pins (ids and model ids containing `@`), `/model status`, `/new`, `/reset`, per-request pins,
// and what the pins do to the next chat request (checked in the fake provider's request log and sessions.json).
import { beforeAll, describe, expect, test } from "bun:test";
import { sandbox, type Sandbox } from "./helpers.ts";
import type { FakeProvider } from "./fake-provider.ts";
import { configFor, credsSeen, keys, readJson, sessionsFile, sseData, startGateway, storeWith, type Gateway, useGatewayFixtures } from "./gateway-helpers.ts";
import type { JarvisConfig } from "../lib/config.ts";
import { answerDirective, resolveModelArg } from "../lib/directives.ts";
import { modelChain } from "../lib/models.ts";
import type { AuthStore } from "../lib/store.ts";

const fixtures = useGatewayFixtures();
let fake: FakeProvider;
beforeAll(() => {
  fake = fixtures.fake;
});

const RATE_LIMITED = { status: 429, body: { type: "error", error: { type: "rate_limit_error", message: "Rate limited" } } };
const PICKER_HINT = "Use /model <number>, /model <provider/model> or /model <alias>; add @<profileId> to pin a credential, e.g. /model sonnet@anthropic:work.";

function resetScripts(): void {
  fake.script("*", {});
  for (const k of Object.values(keys)) fake.script(k, {});
}

/** Profiles a, b (anthropic), me@x.com (anthropic), o (openai); default opus, fallback gpt-5.2, alias sonnet. */
async function setup(store: Record<string, unknown> = {}): Promise<{ sb: Sandbox; gw: Gateway }> {
  resetScripts();
  const sb = sandbox();
  sb.writeStore({
    ...storeWith({ "anthropic:a": keys.a, "anthropic:b": keys.b, "anthropic:me@x.com": keys.mail, "openai:o": keys.openai }),
    ...store,
  });
  sb.writeConfig(
    configFor(
      fake,
      { primary: "anthropic/claude-opus-4-6", fallbacks: ["openai/gpt-5.2"] },
      { agentsDefaults: { models: { "anthropic/claude-sonnet-4-6": { alias: "sonnet" }, "openai/gpt-5.2": {}, "openai/gpt-5@2025-01-01": {} } } },
    ),
  );
  return { sb, gw: await startGateway(sb) };
}

const session = (sb: Sandbox, key = "main") => readJson(sessionsFile(sb))?.sessions?.[key];

describe("directive replies", () => {
  test("/model, /models, /model list and /MODEL: list: the numbered picker; no provider call", async () => {
    const { gw } = await setup();
    const n = fake.requests.length;
    const picker = [
      "Models (current: anthropic/claude-opus-4-6)",
      "1. anthropic/claude-opus-4-6 (default) *",
      "2. openai/gpt-5.2",
      "3. anthropic/claude-sonnet-4-6 (sonnet)",
      "4. openai/gpt-5@2025-01-01",
      PICKER_HINT,
    ].join("\n");
    for (const cmd of ["/model", "/models", "/model list", "  /MODEL: list  "]) {
      const r = await gw.say(cmd);
      expect(r.status).toBe(200);
      expect(r.content).toBe(picker);
      expect(r.json.model).toBe("jarvis");
      expect(r.headers.get("x-jarvis-directive")).not.toBeNull();
    }
    expect(fake.requests.length).toBe(n);
    gw.expectClean();
  });

  test("/model <n> selects, out of range names the count; the override routes the next request", async () => {
    const { sb, gw } = await setup();
    expect((await gw.say("/model 9")).content).toBe("No model #9; there are 4. Send /model to list them.");
    expect((await gw.say("/model 0")).content).toBe("No model #0; there are 4. Send /model to list them.");
    expect(session(sb)).toBeUndefined();
    expect((await gw.say("/model 3")).content).toBe("Model set to anthropic/claude-sonnet-4-6.");
    expect(session(sb)).toMatchObject({ modelOverride: "anthropic/claude-sonnet-4-6" });
    expect((await gw.say("/model")).content).toContain("3. anthropic/claude-sonnet-4-6 (sonnet) *");
    const n = fake.requests.length;
    const r = await gw.say("hello");
    expect(r.json.model).toBe("anthropic/claude-sonnet-4-6");
    expect(fake.requests.slice(n).map((x) => x.body.model)).toEqual(["claude-sonnet-4-6"]);
    // Another session is not affected.
    expect((await gw.say("hello", { session: "other" })).json.model).toBe("anthropic/claude-opus-4-6");
  });

  test("/model <ref>, alias, default ref (reset), unknown model, not allowed", async () => {
    const { sb, gw } = await setup();
    expect((await gw.say("/model openai/gpt-5.2")).content).toBe("Model set to openai/gpt-5.2.");
    const n = fake.requests.length;
    expect((await gw.say("hi")).headers.get("x-jarvis-credential")).toBe("openai:o");
    expect(credsSeen(fake, n)).toEqual(["openai"]);
    expect((await gw.say("/model sonnet")).content).toBe("Model set to anthropic/claude-sonnet-4-6.");
    expect((await gw.say("/model anthropic/claude-opus-4-6")).content).toBe("Model reset to the default: anthropic/claude-opus-4-6.");
    expect(session(sb)?.modelOverride).toBeUndefined();
    expect((await gw.say("/model nosuch/thing")).content).toBe('Unknown model "nosuch/thing". Send /model to list configured models.');
    expect((await gw.say("/model anthropic/claude-haiku-4-5")).content).toBe('Model "anthropic/claude-haiku-4-5" is not in agents.defaults.models.');
    expect(session(sb)?.modelOverride).toBeUndefined();
  });

  test("/model <ref>@<profileId>: a user pin that stays pinned, then advances the model, never the profile", async () => {
    const { sb, gw } = await setup();
    expect((await gw.say("/model sonnet@anthropic:b")).content).toBe(
      "Model set to anthropic/claude-sonnet-4-6 with auth profile anthropic:b (pinned for this session).",
    );
    expect(session(sb)).toMatchObject({ modelOverride: "anthropic/claude-sonnet-4-6", authProfileOverride: "anthropic:b", authProfileOverrideSource: "user" });
    const n = fake.requests.length;
    for (let i = 0; i < 3; i++) expect((await gw.say("hi")).headers.get("x-jarvis-credential")).toBe("anthropic:b");
    expect(credsSeen(fake, n)).toEqual(["b", "b", "b"]);
    // The pinned profile fails: the fallback model answers; a is never tried; the pin stays.
    fake.script(keys.b, RATE_LIMITED);
    const m = fake.requests.length;
    const r = await gw.say("hi");
    expect(r.status).toBe(200);
    expect(r.json.model).toBe("openai/gpt-5.2");
    expect(credsSeen(fake, m)).toEqual(["b", "openai"]);
    expect(session(sb)).toMatchObject({ authProfileOverride: "anthropic:b", authProfileOverrideSource: "user" });
    // Pinned while cooling: tried anyway (strict pin), and the reply notes the cooldown.
    const again = await gw.say("/model sonnet@anthropic:b");
    expect(again.content).toMatch(/^Model set to anthropic\/claude-sonnet-4-6 with auth profile anthropic:b \(pinned for this session\)\. Note: it is in cooldown until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\.$/);
    fake.script(keys.b, {});
    const k = fake.requests.length;
    expect((await gw.say("hi")).headers.get("x-jarvis-credential")).toBe("anthropic:b");
    expect(credsSeen(fake, k)).toEqual(["b"]);
    // /model <ref> without @ drops the user pin.
    expect((await gw.say("/model sonnet")).content).toBe("Model set to anthropic/claude-sonnet-4-6.");
    expect(session(sb)?.authProfileOverride).toBeUndefined();
    gw.expectClean();
  });

  test("the default ref with @profile is a pin: pin reply, modelOverride cleared", async () => {
    const { sb, gw } = await setup();
    await gw.say("/model sonnet");
    expect((await gw.say("/model anthropic/claude-opus-4-6@anthropic:b")).content).toBe(
      "Model set to anthropic/claude-opus-4-6 with auth profile anthropic:b (pinned for this session).",
    );
    const s = session(sb);
    expect(s.modelOverride).toBeUndefined();
    expect(s).toMatchObject({ authProfileOverride: "anthropic:b", authProfileOverrideSource: "user" });
  });

  test("profile ids containing @ (emails) and model ids containing @", async () => {
    const { sb, gw } = await setup();
    expect((await gw.say("/model anthropic/claude-opus-4-6@anthropic:me@x.com")).content).toBe(
      "Model set to anthropic/claude-opus-4-6 with auth profile anthropic:me@x.com (pinned for this session).",
    );
    let n = fake.requests.length;
    expect((await gw.say("hi")).headers.get("x-jarvis-credential")).toBe("anthropic:me@x.com");
    expect(credsSeen(fake, n)).toEqual(["mail"]);
    // A model id with @ and no profile suffix: the whole argument is the ref.
    expect((await gw.say("/model openai/gpt-5@2025-01-01")).content).toBe("Model set to openai/gpt-5@2025-01-01.");
    expect(session(sb)).toMatchObject({ modelOverride: "openai/gpt-5@2025-01-01" });
    expect(session(sb).authProfileOverride).toBeUndefined();
    n = fake.requests.length;
    expect((await gw.say("hi")).json.model).toBe("openai/gpt-5@2025-01-01");
    expect(fake.requests.slice(n).map((x) => x.body.model)).toEqual(["gpt-5@2025-01-01"]);
    // Both at once: the rightmost @ that names a profile of the provider splits.
    expect((await gw.say("/model openai/gpt-5@2025-01-01@openai:o")).content).toBe(
      "Model set to openai/gpt-5@2025-01-01 with auth profile openai:o (pinned for this session).",
    );
  });

  test("unknown profile of P, profile of another provider, ineligible profile: refused, session unchanged", async () => {
    const { sb, gw } = await setup({
      profiles: {
        ...(storeWith({ "anthropic:a": keys.a, "openai:o": keys.openai }).profiles as object),
        "anthropic:old": { type: "token", provider: "anthropic", token: keys.c, expires: Date.now() - 60_000 },
      },
    });
    expect((await gw.say("/model anthropic/claude-opus-4-6@anthropic:nope")).content).toBe('Auth profile "anthropic:nope" not found for provider anthropic.');
    expect((await gw.say("/model sonnet@openai:o")).content).toBe('Auth profile "openai:o" belongs to openai, not anthropic.');
    expect((await gw.say("/model sonnet@anthropic:old")).content).toBe('Auth profile "anthropic:old" is not usable: expired.');
    expect(session(sb)).toBeUndefined();
    gw.expectClean();
  });

  test("streamed directive: one chunk with the reply, then [DONE]", async () => {
    const { gw } = await setup();
    const r = await gw.chat({ stream: true, messages: [{ role: "user", content: "/model 2" }] });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toStartWith("text/event-stream");
    const data = sseData(r.text);
    expect(data.at(-1)).toBe("[DONE]");
    const text = data.slice(0, -1).map((c) => c.choices[0].delta.content ?? "").join("");
    expect(text).toBe("Model set to openai/gpt-5.2.");
    expect(data.slice(0, -1).every((c) => c.model === "jarvis")).toBe(true);
  });

  test("only the last user message counts; a directive inside a longer text is a normal message", async () => {
    const { gw } = await setup();
    const n = fake.requests.length;
    const r = await gw.chat({ messages: [{ role: "user", content: "/model 2" }, { role: "assistant", content: "ok" }, { role: "user", content: "hello" }] });
    expect(r.json.model).toBe("anthropic/claude-opus-4-6");
    const r2 = await gw.say("please run /model 2");
    expect(r2.json.model).toBe("anthropic/claude-opus-4-6");
    expect(fake.requests.length).toBe(n + 2);
  });
});

describe("the agent's chain is always allowed", () => {
  test("a fallback missing from a non-empty agents.defaults.models: the picker entry, its ref and a request for it all work", async () => {
    resetScripts();
    const sb = sandbox();
    sb.writeStore(storeWith({ "anthropic:a": keys.a, "openai:o": keys.openai }));
    sb.writeConfig(configFor(fake, { fallbacks: ["openai/gpt-5.2"] }, { agentsDefaults: { models: { "anthropic/claude-sonnet-4-6": { alias: "sonnet" } } } }));
    const gw = await startGateway(sb);
    expect((await gw.say("/model")).content).toContain("2. openai/gpt-5.2\n");
    expect((await gw.say("/model 2")).content).toBe("Model set to openai/gpt-5.2.");
    expect(session(sb)).toMatchObject({ modelOverride: "openai/gpt-5.2" });
    const n = fake.requests.length;
    expect((await gw.say("hi")).headers.get("x-jarvis-credential")).toBe("openai:o");
    expect(credsSeen(fake, n)).toEqual(["openai"]);
    expect((await gw.say("/model openai/gpt-5.2@openai:o")).content).toBe("Model set to openai/gpt-5.2 with auth profile openai:o (pinned for this session).");
    expect((await gw.say("hi", { session: "r", model: "openai/gpt-5.2" })).json.model).toBe("openai/gpt-5.2");
    // Anything else still has to be listed.
    expect((await gw.say("/model anthropic/claude-haiku-4-5")).content).toBe('Model "anthropic/claude-haiku-4-5" is not in agents.defaults.models.');
    const other = await gw.say("hi", { model: "anthropic/claude-haiku-4-5" });
    expect(other.status).toBe(400);
    expect(other.json.error.code).toBe("model_not_allowed");
    gw.expectClean();
  });
});

describe("ids that are Object.prototype member names", () => {
  const NAMES = ["__proto__", "toString", "constructor", "hasOwnProperty", "valueOf"];

  test("/model <ref>@<name> and a request model with @<name>: a normal reply, never a 500", async () => {
    const { sb, gw } = await setup();
    for (const name of NAMES) {
      for (const arg of [`sonnet@${name}`, `anthropic/claude-opus-4-6@${name}`, name, `${name}/x`, `${name}@${name}`]) {
        const r = await gw.say(`/model ${arg}`);
        expect(r.status).toBe(200);
        expect(r.content).toMatch(/^(Model ".*" is not in agents\.defaults\.models\.|Unknown model ".*"\. Send \/model to list configured models\.)$/);
        const req = await gw.say("hi", { session: "req", model: arg });
        expect(req.status).toBe(400);
        expect(["model_not_allowed", "model_not_found"]).toContain(req.json.error.code);
      }
    }
    expect(session(sb)).toBeUndefined();
    expect(gw.stderr()).not.toContain("request failed");
    gw.expectClean();
  });

  test("a profile whose id is a member name can be pinned and is used", async () => {
    resetScripts();
    const sb = sandbox();
    // Written as text: an object literal would turn a "__proto__" key into a prototype.
    const profiles = NAMES.map((id, i) => `${JSON.stringify(id)}: {"type": "api_key", "provider": "anthropic", "key": ${JSON.stringify(i === 0 ? keys.c : keys.b)}}`);
    sb.writeStore(`{"version": 1, "profiles": {${profiles.join(", ")}, "anthropic:a": {"type": "api_key", "provider": "anthropic", "key": "${keys.a}"}}}`);
    sb.writeConfig(configFor(fake));
    const gw = await startGateway(sb);
    expect((await gw.say("/model anthropic/claude-opus-4-6@__proto__")).content).toBe(
      "Model set to anthropic/claude-opus-4-6 with auth profile __proto__ (pinned for this session).",
    );
    expect(session(sb)).toMatchObject({ authProfileOverride: "__proto__", authProfileOverrideSource: "user" });
    let n = fake.requests.length;
    const r = await gw.say("hi");
    expect(r.status).toBe(200);
    expect(r.headers.get("x-jarvis-credential")).toBe("__proto__");
    expect(credsSeen(fake, n)).toEqual(["c"]);
    expect((await gw.say("/model anthropic/claude-opus-4-6@toString", { session: "t" })).content).toBe(
      "Model set to anthropic/claude-opus-4-6 with auth profile toString (pinned for this session).",
    );
    n = fake.requests.length;
    expect((await gw.say("hi", { session: "t" })).headers.get("x-jarvis-credential")).toBe("toString");
    expect(credsSeen(fake, n)).toEqual(["b"]);
    expect((await gw.say("/model status", { session: "t" })).content).toContain("Auth pin: toString (user)");
    gw.expectClean();
  });

  test("directive answers look profiles up as own properties, whatever prototype the store's maps have", () => {
    // Ordinary objects, as any caller (a test, the usage-recorder overlay) may build them.
    const config = { agents: { defaults: { model: { primary: "anthropic/claude-opus-4-6" }, models: { "anthropic/claude-sonnet-4-6": { alias: "sonnet" } } } } } as JarvisConfig;
    const store = { profiles: { "anthropic:a": { type: "api_key", provider: "anthropic", key: keys.a } }, usageStats: {}, order: {}, lastGood: {} } as unknown as AuthStore;
    const ctx = { config, chain: modelChain(config, "main"), store, session: {}, now: Date.now(), secretDefaults: {} };
    const cases: Array<[string, string]> = [
      ["sonnet@toString", 'Model "anthropic/sonnet@toString" is not in agents.defaults.models.'],
      ["sonnet@__proto__", 'Model "anthropic/sonnet@__proto__" is not in agents.defaults.models.'],
      ["anthropic/claude-opus-4-6@constructor", 'Model "anthropic/claude-opus-4-6@constructor" is not in agents.defaults.models.'],
      ["sonnet@anthropic:a", "Model set to anthropic/claude-sonnet-4-6 with auth profile anthropic:a (pinned for this session)."],
    ];
    for (const [arg, reply] of cases) expect(answerDirective({ kind: "set", arg }, ctx).reply).toBe(reply);
    expect(resolveModelArg("sonnet@hasOwnProperty", ctx)).toMatchObject({ ok: false, code: "model_not_allowed" });
  });

  test("a hand-edited sessions.json pinning a member name: a stale pin, dropped; the request uses the order", async () => {
    const { sb, gw } = await setup();
    const sessions = { version: 1, sessions: { main: { authProfileOverride: "toString", authProfileOverrideSource: "user" }, s: { authProfileOverride: "__proto__", authProfileOverrideSource: "auto" } } };
    sb.write(sessionsFile(sb), sessions);
    for (const key of ["main", "s"]) {
      const n = fake.requests.length;
      const r = await gw.say("hi", { session: key });
      expect(r.status).toBe(200);
      expect(credsSeen(fake, n)).toHaveLength(1);
      expect(session(sb, key).authProfileOverride).toMatch(/^anthropic:/);
    }
    gw.expectClean();
  });

  test("session keys that are member names are stored under their own key and read back", async () => {
    const { sb, gw } = await setup();
    for (const key of NAMES) {
      // A fresh session of that name: the default model, no pin, no 500.
      const status = await gw.say("/model status", { session: key });
      expect(status.status).toBe(200);
      expect(status.content).toContain(`Session: ${key}\nModel: anthropic/claude-opus-4-6 (default)`);
      expect(status.content).toContain("Auth pin: none");
      expect((await gw.say("hi", { session: key })).json.model).toBe("anthropic/claude-opus-4-6");
      expect((await gw.say("/model sonnet", { session: key })).content).toBe("Model set to anthropic/claude-sonnet-4-6.");
      expect(session(sb, key)).toMatchObject({ modelOverride: "anthropic/claude-sonnet-4-6", authProfileOverride: expect.stringMatching(/^anthropic:/), authProfileOverrideSource: "auto" });
      const n = fake.requests.length;
      expect((await gw.say("hi", { session: key })).json.model).toBe("anthropic/claude-sonnet-4-6");
      expect(fake.requests.slice(n).map((x) => x.body.model)).toEqual(["claude-sonnet-4-6"]);
    }
    // The file holds exactly these sessions, as plain keys.
    const doc = readJson(sessionsFile(sb));
    expect(Object.keys(doc.sessions).sort()).toEqual([...NAMES].sort());
    expect(Object.getPrototypeOf(doc.sessions)).toBe(Object.prototype);
    // Other sessions are untouched; /new deletes only its own entry.
    expect((await gw.say("hi")).json.model).toBe("anthropic/claude-opus-4-6");
    expect((await gw.say("/new", { session: "__proto__" })).content).toBe("New session started.");
    expect(Object.keys(readJson(sessionsFile(sb)).sessions).sort()).toEqual(["constructor", "hasOwnProperty", "main", "toString", "valueOf"]);
    expect((await gw.say("/model status", { session: "__proto__" })).content).toContain("Model: anthropic/claude-opus-4-6 (default)");
    expect(gw.stderr()).not.toContain("request failed");
    gw.expectClean();
  });
});

describe("sessions", () => {
  test("/new clears the auto pin, /reset deletes the session", async () => {
    const { sb, gw } = await setup();
    expect((await gw.say("hi")).headers.get("x-jarvis-credential")).toBe("anthropic:a");
    expect(session(sb)).toMatchObject({ authProfileOverride: "anthropic:a", authProfileOverrideSource: "auto" });
    const before = (await import("node:fs")).statSync(sessionsFile(sb)).mtimeMs;
    // Same profile again: the unchanged auto pin is not rewritten.
    await gw.say("hi");
    expect((await import("node:fs")).statSync(sessionsFile(sb)).mtimeMs).toBe(before);
    expect((await gw.say("/new")).content).toBe("New session started.");
    expect(session(sb)).toBeUndefined();
    // Without the pin, round robin picks the least recently used profile.
    expect((await gw.say("hi")).headers.get("x-jarvis-credential")).toBe("anthropic:b");
    await gw.say("/model sonnet@anthropic:a");
    expect((await gw.say("/reset")).content).toBe("Session reset.");
    expect(session(sb)).toBeUndefined();
  });

  test("/model status names the session, candidates, the pin and the next profile to try; no secrets at all", async () => {
    const { sb, gw } = await setup();
    const r = await gw.say("/model status");
    expect(r.status).toBe(200);
    const lines = r.content.split("\n");
    expect(lines.slice(0, 6)).toEqual([
      "Agent: main (auth store ~/.jarvis/agents/main/agent/auth-profiles.json)",
      "Session: main",
      "Model: anthropic/claude-opus-4-6 (default)",
      "Candidates: anthropic/claude-opus-4-6 → openai/gpt-5.2",
      "Auth pin: none",
      "Next auth profile: anthropic:a",
    ]);
    expect(lines).toContain("anthropic — " + `${fake.url} (anthropic-messages)`);
    expect(r.content).not.toContain("sk-");
    expect(r.content).not.toContain("\u2026");
    // a fails over to b: a cools down, and the next profile to try is b (now the session's auto pin).
    fake.script(keys.a, RATE_LIMITED);
    await gw.say("hi", { session: "s" });
    const s = (await gw.say("/model status", { session: "s" })).content;
    expect(s).toContain("Session: s");
    expect(s).toContain("Auth pin: anthropic:b (auto)");
    expect(s).toContain("Next auth profile: anthropic:b");
    expect(s).toMatch(/anthropic:a api_key cooldown rate_limit 1m/);
    // A fresh session with the override: next is b as well (a cools down for this model).
    await gw.say("/model sonnet@anthropic:a", { session: "p" });
    const p = (await gw.say("/model status", { session: "p" })).content;
    expect(p).toContain("Model: anthropic/claude-sonnet-4-6 (session override; default anthropic/claude-opus-4-6)");
    expect(p).toContain("Auth pin: anthropic:a (user)");
    expect(p).toContain("Next auth profile: anthropic:a");
    expect(sb.readStore().usageStats["anthropic:a"].cooldownReason).toBe("rate_limit");
    gw.expectClean();
  });

  test("/model status: env credentials as the next try, excluded profiles marked", async () => {
    resetScripts();
    const sb = sandbox();
    sb.writeStore({ ...storeWith({ "openai:o": keys.openai, "openai:x": keys.openaiEnv }), order: { openai: ["openai:o"] } });
    sb.writeConfig(configFor(fake, { fallbacks: ["openai/gpt-5.2"] }));
    const gw = await startGateway(sb, { env: { ANTHROPIC_API_KEY: keys.env1 } });
    const text = (await gw.say("/model status")).content;
    expect(text).toContain("Next auth profile: env:ANTHROPIC_API_KEY");
    expect(text).toContain("  env: ANTHROPIC_API_KEY (env)");
    expect(text).toContain("  1. openai:o api_key");
    expect(text).toMatch(/ {2}2\. openai:x api_key .*\(excluded by auth order\)/);
    expect(text).not.toContain("sk-");
    gw.expectClean();
  });

  test("a per-request pin in `model` is used for that request only and never persisted", async () => {
    const { sb, gw } = await setup();
    const n = fake.requests.length;
    const r = await gw.chat({ model: "anthropic/claude-opus-4-6@anthropic:b", messages: [{ role: "user", content: "hi" }] });
    expect(r.headers.get("x-jarvis-credential")).toBe("anthropic:b");
    expect(credsSeen(fake, n)).toEqual(["b"]);
    expect(session(sb)).toBeUndefined();
    const r2 = await gw.chat({ model: "sonnet", messages: [{ role: "user", content: "hi" }] });
    expect(r2.json.model).toBe("anthropic/claude-sonnet-4-6");
    for (const model of ["default", "jarvis", ""]) {
      expect((await gw.chat({ model, messages: [{ role: "user", content: "hi" }] })).json.model).toBe("anthropic/claude-opus-4-6");
    }
  });

  test("a stale pin (profile removed) is dropped and the request uses the order", async () => {
    const { sb, gw } = await setup();
    await gw.say("/model sonnet@anthropic:b");
    const doc = sb.readStore();
    delete doc.profiles["anthropic:b"];
    sb.writeStore(doc);
    const n = fake.requests.length;
    const r = await gw.say("hi");
    expect(r.status).toBe(200);
    expect(credsSeen(fake, n)).toEqual(["a"]);
    expect(session(sb)).toMatchObject({ modelOverride: "anthropic/claude-sonnet-4-6", authProfileOverride: "anthropic:a", authProfileOverrideSource: "auto" });
  });
});
