// End-to-end: `models auth order get|set|clear` and `remove` (spec 05 §5, §8–§10, 03 §5, §8) and the config edit rules
// the writers follow (01 §4): exact text and JSON, exit codes, field-level changes that keep everything else.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { backdateTree, cleanupSandboxes, expectNoSecrets, fake, json, guardSecrets, sandbox as newSandbox, snapshotTree, type Sandbox } from "./helpers.ts";

afterAll(cleanupSandboxes);

/** Every run of every sandbox here fails on a whole fake secret in its output. */
const sandbox = () => guardSecrets(newSandbox());

const SECRETS = [fake.anthropicKey, fake.anthropicToken, fake.openaiKey, fake.groq(1), fake.groq(2), "oauth-access-TESTFAKE-0001"];
const readConfig = (sb: Sandbox) => JSON.parse(fs.readFileSync(sb.configPath, "utf8"));

/** 03 §8 worked example: a (api_key, lastUsed 50), b (token, never used), c (oauth, cooling), d (api_key, lastUsed 10). */
function workedExample(extra: Record<string, unknown> = {}): Sandbox {
  const sb = sandbox();
  const now = Date.now();
  sb.writeStore({
    version: 1,
    profiles: {
      a: { type: "api_key", provider: "anthropic", key: fake.anthropicKey },
      b: { type: "token", provider: "anthropic", token: fake.anthropicToken },
      c: { type: "oauth", provider: "anthropic", access: "oauth-access-TESTFAKE-0001", expires: now + 86_400_000 },
      d: { type: "api_key", provider: "anthropic", key: `${fake.anthropicKey}d` },
      "groq:a": { type: "api_key", provider: "groq", key: fake.groq(1) },
    },
    lastGood: { anthropic: "a", groq: "groq:a" },
    usageStats: {
      a: { lastUsed: 50 },
      c: { cooldownUntil: now + 300_000, cooldownReason: "rate_limit", errorCount: 1, lastFailureAt: now },
      d: { lastUsed: 10 },
    },
    unknownTopLevel: { kept: ["as", "is"] },
    ...extra,
  });
  return sb;
}

describe("order get (read-only)", () => {
  test("text and JSON follow 05 §8 and the 03 §8 worked example", async () => {
    const sb = workedExample();
    const r = await sb.run(["models", "auth", "order", "get", "--provider", "anthropic"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "Agent: main",
        "Provider: anthropic",
        "Auth file: ~/.jarvis/agents/main/agent/auth-profiles.json",
        "Order override: (none)",
        "Config order: (none)",
        "Effective order: b, d, a, c",
        "",
      ].join("\n"),
    );
    expectNoSecrets(r, SECRETS);
    const j = json(await sb.run(["models", "auth", "order", "get", "--provider", "anthropic", "--json"]));
    expect(j).toEqual({
      agentId: "main",
      agentDir: sb.agentDir,
      provider: "anthropic",
      authStorePath: sb.storePath,
      order: null,
      configOrder: null,
      effectiveOrder: ["b", "d", "a", "c"],
    });
  });

  test("store override and config order are both shown; the store wins; omitted profiles are excluded", async () => {
    const sb = workedExample({ order: { anthropic: ["a", "c", "d"] } });
    sb.writeConfig({ auth: { order: { anthropic: ["d", "a"] } } });
    const r = await sb.run(["models", "auth", "order", "get", "--provider", "Anthropic"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Order override: a, c, d\nConfig order: d, a\nEffective order: a, d, c\n");
    const j = json(await sb.run(["models", "auth", "order", "get", "--provider", "anthropic", "--json"]));
    expect(j.order).toEqual(["a", "c", "d"]);
    expect(j.configOrder).toEqual(["d", "a"]);
    expect(j.effectiveOrder).toEqual(["a", "d", "c"]);
  });

  test("missing --provider → 64, no JSON", async () => {
    const sb = workedExample();
    const r = await sb.run(["models", "auth", "order", "get", "--json"]);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Missing --provider.");
  });
});

describe("order set", () => {
  test("writes only `order` (trimmed, de-duplicated); usageStats, lastGood, profiles and unknown keys untouched", async () => {
    const sb = workedExample();
    const before = sb.readStore();
    const r = await sb.run(["models", "auth", "order", "set", "--provider", "anthropic", " d ", "a", "d", "c"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Agent: main\nProvider: anthropic\nOrder override: d, a, c\n");
    // c is cooling down but still eligible: no warning for it.
    expect(r.stderr).not.toContain("not usable");
    expectNoSecrets(r, SECRETS);
    const after = sb.readStore();
    expect(after).toEqual({ ...before, order: { anthropic: ["d", "a", "c"] } });
    expect(Object.keys(after)).toEqual([...Object.keys(before), "order"]);
    const get = await sb.run(["models", "auth", "order", "get", "--provider", "anthropic"]);
    expect(get.stdout).toContain("Order override: d, a, c\n");
    expect(get.stdout).toContain("Effective order: d, a, c\n");
  });

  test("replaces the existing key whose normalised form matches, keeps other providers' lists", async () => {
    const sb = sandbox();
    sb.writeStore({
      version: 1,
      profiles: { "zai:x": { type: "api_key", provider: "zai", key: fake.groq(1) }, "groq:a": { type: "api_key", provider: "groq", key: fake.groq(2) } },
      order: { "z.ai": ["zai:x"], groq: ["groq:a"] },
    });
    const r = await sb.run(["models", "auth", "order", "set", "--provider", "z.ai", "zai:x"]);
    expect(r.code).toBe(0);
    expect(sb.readStore().order).toEqual({ "z.ai": ["zai:x"], groq: ["groq:a"] });
  });

  test("an ineligible id is accepted with a warning", async () => {
    const sb = sandbox();
    sb.writeStore({ version: 1, profiles: { "groq:old": { type: "token", provider: "groq", token: fake.groq(1), expires: Date.now() - 1000 } } });
    const r = await sb.run(["models", "auth", "order", "set", "--provider", "groq", "groq:old"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("groq:old is currently not usable: expired");
    expect(sb.readStore().order).toEqual({ groq: ["groq:old"] });
  });

  test("a comma is part of an id, not a separator", async () => {
    const sb = sandbox();
    const r1 = await sb.run(["models", "auth", "paste-token", "--provider", "groq", "--profile-id", "groq:a,b"], { stdin: fake.groq(1) });
    expect(r1.code).toBe(0);
    const r2 = await sb.run(["models", "auth", "order", "set", "--provider", "groq", "groq:a,b"]);
    expect(r2.code).toBe(0);
    expect(sb.readStore().order).toEqual({ groq: ["groq:a,b"] });
  });

  const failures: Array<[string, string[], number, (sb: Sandbox) => string]> = [
    ["an unknown id", ["--provider", "anthropic", "a", "zz"], 1, (sb) => `Auth profile "zz" not found in ${sb.storePath}.`],
    ["an id of another provider", ["--provider", "anthropic", "a", "groq:a"], 1, () => 'Auth profile "groq:a" is for groq, not anthropic.'],
    ["no ids", ["--provider", "anthropic"], 64, () => "Missing profile ids. Provide one or more profile ids."],
    ["only blank ids", ["--provider", "anthropic", " ", ""], 64, () => "Missing profile ids. Provide one or more profile ids."],
    ["no --provider", ["a"], 64, () => "Missing --provider."],
  ];
  for (const [name, args, code, message] of failures) {
    test(`${name} → ${code}, nothing written`, async () => {
      const sb = workedExample({ order: { anthropic: ["a"] } });
      backdateTree(sb.home);
      const before = snapshotTree(sb.home);
      const r = await sb.run(["models", "auth", "order", "set", ...args]);
      expect(r.code).toBe(code);
      expect(r.stderr).toContain(message(sb));
      expect(r.stdout).toBe("");
      expectNoSecrets(r, SECRETS);
      expect(snapshotTree(sb.home)).toEqual(before);
    });
  }

  test("an unknown id on an empty HOME → 1 and no directories are created", async () => {
    const sb = sandbox();
    const r = await sb.run(["models", "auth", "order", "set", "--provider", "groq", "groq:nope"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Auth profile "groq:nope" not found in ${sb.storePath}.`);
    expect(fs.existsSync(sb.state)).toBe(false);
  });
});

describe("order clear", () => {
  test("deletes only that provider's list; `order` goes when empty; other fields untouched", async () => {
    const sb = workedExample({ order: { anthropic: ["a", "b"], groq: ["groq:a"] } });
    const before = sb.readStore();
    const r = await sb.run(["models", "auth", "order", "clear", "--provider", "anthropic"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Agent: main\nProvider: anthropic\nCleared per-agent order override.\n");
    expect(sb.readStore()).toEqual({ ...before, order: { groq: ["groq:a"] } });
    expect((await sb.run(["models", "auth", "order", "clear", "--provider", "groq"])).code).toBe(0);
    const { order, ...rest } = before;
    expect(order).toEqual({ anthropic: ["a", "b"], groq: ["groq:a"] });
    // Clearing the last provider deletes `order` itself, not just its keys (03 §5 clearOrder).
    expect(sb.readStore()).toEqual(rest);
    expect(sb.readStore()).not.toHaveProperty("order");
    const get = await sb.run(["models", "auth", "order", "get", "--provider", "anthropic"]);
    expect(get.stdout).toContain("Order override: (none)\n");
    expect(get.stdout).toContain("Effective order: b, d, a, c\n");
  });

  test("nothing to clear → same output, nothing written (also on an empty HOME)", async () => {
    for (const sb of [workedExample(), sandbox()]) {
      backdateTree(sb.home);
      const before = snapshotTree(sb.home);
      const r = await sb.run(["models", "auth", "order", "clear", "--provider", "anthropic"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("Agent: main\nProvider: anthropic\nCleared per-agent order override.\n");
      expect(snapshotTree(sb.home)).toEqual(before);
    }
  });

  test("missing --provider → 64", async () => {
    const sb = workedExample();
    const r = await sb.run(["models", "auth", "order", "clear"]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("Missing --provider.");
  });
});

describe("remove", () => {
  function withConfig(): Sandbox {
    const sb = workedExample({ order: { anthropic: ["a", "b"], groq: ["groq:a"], other: ["a"] } });
    sb.writeConfig({
      auth: {
        profiles: { a: { provider: "anthropic", mode: "api_key" }, b: { provider: "anthropic", mode: "token" } },
        order: { anthropic: ["a", "b"], legacy: ["a"] },
      },
      agents: { defaults: { model: "anthropic/claude-sonnet-4-5" } },
    });
    return sb;
  }

  test("--yes removes the profile, its usageStats, lastGood and every order entry, in store and config", async () => {
    const sb = withConfig();
    const before = sb.readStore();
    const r = await sb.run(["models", "auth", "remove", "a", "--yes"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Removed auth profile a (store: removed; config: removed from auth.profiles, auth.order.anthropic, auth.order.legacy).\n");
    expect(r.stderr).toContain("Updated ~/.jarvis/jarvis.json");
    expectNoSecrets(r, SECRETS);
    const after = sb.readStore();
    const { a: _p, ...profiles } = before.profiles;
    const { a: _s, ...usageStats } = before.usageStats;
    expect(after).toEqual({ ...before, profiles, usageStats, lastGood: { groq: "groq:a" }, order: { anthropic: ["b"], groq: ["groq:a"] } });
    expect(readConfig(sb)).toEqual({
      auth: { profiles: { b: { provider: "anthropic", mode: "token" } }, order: { anthropic: ["b"] } },
      agents: { defaults: { model: "anthropic/claude-sonnet-4-5" } },
    });
  });

  test("an unknown id → 1 with the exact message, nothing written", async () => {
    const sb = withConfig();
    backdateTree(sb.home);
    const before = snapshotTree(sb.home);
    const r = await sb.run(["models", "auth", "remove", "nope:x", "--yes"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Auth profile "nope:x" not found in ${sb.storePath}.`);
    expect(snapshotTree(sb.home)).toEqual(before);
  });

  test("no terminal and no --yes → 1 naming --yes, nothing written", async () => {
    const sb = withConfig();
    backdateTree(sb.home);
    const before = snapshotTree(sb.home);
    const r = await sb.run(["models", "auth", "remove", "a"], { stdin: "y\n" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Refusing to remove without confirmation; pass --yes.");
    expect(snapshotTree(sb.home)).toEqual(before);
  });

  test("missing profile id → 64", async () => {
    const sb = withConfig();
    const r = await sb.run(["models", "auth", "remove", "--yes"]);
    expect(r.code).toBe(64);
  });

  test("a config-only entry is removable: only the config changes", async () => {
    const sb = withConfig();
    const cfg = readConfig(sb);
    cfg.auth.profiles["cfg:only"] = { provider: "cfg", mode: "api_key" };
    sb.writeConfig(cfg);
    backdateTree(sb.home);
    const storeBefore = snapshotTree(sb.agentDir);
    const r = await sb.run(["models", "auth", "remove", "cfg:only", "--yes"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Removed auth profile cfg:only (");
    expect(r.stdout).toContain("config: removed from auth.profiles");
    expect(readConfig(sb).auth.profiles["cfg:only"]).toBeUndefined();
    expect(snapshotTree(sb.agentDir)).toEqual(storeBefore);
  });

  test("a config-only entry on a HOME without a store creates no agent dir", async () => {
    const sb = sandbox();
    sb.writeConfig({ auth: { profiles: { "cfg:only": { provider: "cfg", mode: "api_key" } } } });
    const r = await sb.run(["models", "auth", "remove", "cfg:only", "--yes"]);
    expect(r.code).toBe(0);
    expect(readConfig(sb)).toEqual({ auth: { profiles: {} } });
    expect(fs.existsSync(sb.agentDir)).toBe(false);
  });
});

describe("config edits (01 §4)", () => {
  const JSON5_CONFIG = `// my jarvis config\n{\n  agents: { defaults: { model: 'groq/llama-3.3-70b' } }, // trailing comma next\n  auth: { order: { groq: ['groq:a'] }, },\n}\n`;

  test("a JSON5 config with comments is backed up to jarvis.json.bak before the canonical rewrite, with the spec's log line", async () => {
    const sb = sandbox();
    sb.writeConfig(JSON5_CONFIG);
    const r = await sb.run(["models", "auth", "paste-token", "--provider", "groq"], { stdin: fake.groq(1) });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Backed up ~/.jarvis/jarvis.json to ~/.jarvis/jarvis.json.bak (comments and formatting are not preserved)");
    expect(r.stderr).toContain("Updated ~/.jarvis/jarvis.json");
    expect(fs.readFileSync(`${sb.configPath}.bak`, "utf8")).toBe(JSON5_CONFIG);
    const text = fs.readFileSync(sb.configPath, "utf8");
    const doc = JSON.parse(text);
    expect(text).toBe(`${JSON.stringify(doc, null, 2)}\n`);
    expect(doc).toEqual({
      agents: { defaults: { model: "groq/llama-3.3-70b" } },
      auth: { order: { groq: ["groq:a"] }, profiles: { "groq:manual": { provider: "groq", mode: "token" } } },
    });
    // auth.order untouched; the order note names where the explicit order lives and how to add the id.
    expect(r.stderr).toContain(
      "Note: the explicit order for groq (jarvis.json) does not list groq:manual, so it will not be used. Add it with: jarvis models auth order set --provider groq groq:a groq:manual",
    );

    // Now canonical: the next edit takes no backup (the .bak keeps the original bytes).
    const r2 = await sb.run(["models", "auth", "paste-token", "--provider", "groq", "--profile-id", "groq:second"], { stdin: fake.groq(2) });
    expect(r2.code).toBe(0);
    expect(r2.stderr).not.toContain("Backed up");
    expect(fs.readFileSync(`${sb.configPath}.bak`, "utf8")).toBe(JSON5_CONFIG);
  });

  test("an edit that changes nothing writes nothing (no backup, same mtime)", async () => {
    const sb = sandbox();
    sb.writeConfig(`// c\n{ auth: { profiles: { "groq:manual": { provider: "groq", mode: "token" } } } }\n`);
    backdateTree(sb.state);
    const cfgBefore = snapshotTree(sb.configPath);
    const r = await sb.run(["models", "auth", "paste-token", "--provider", "groq"], { stdin: fake.groq(1) });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("Updated ~/.jarvis/jarvis.json");
    expect(snapshotTree(sb.configPath)).toEqual(cfgBefore);
    expect(fs.existsSync(`${sb.configPath}.bak`)).toBe(false);
  });

  test("the raw document is edited: ${VAR} references stay, no substituted secret is written", async () => {
    const sb = sandbox();
    sb.writeConfig({ models: { providers: { groq: { apiKey: "${GROQ_API_KEY}" } } }, auth: { profiles: { "groq:x": { provider: "groq", mode: "api_key", email: "me@example.com" } } } });
    const r = await sb.run(["models", "auth", "paste-token", "--provider", "groq", "--type", "api_key", "--profile-id", "groq:x"], {
      stdin: fake.groq(1),
      env: { GROQ_API_KEY: fake.groq(2) },
    });
    expect(r.code).toBe(0);
    expectNoSecrets(r, [fake.groq(1), fake.groq(2)]);
    const text = fs.readFileSync(sb.configPath, "utf8");
    expect(text).not.toContain(fake.groq(2));
    expect(text).not.toContain(fake.groq(1));
    expect(JSON.parse(text)).toEqual({
      models: { providers: { groq: { apiKey: "${GROQ_API_KEY}" } } },
      auth: { profiles: { "groq:x": { provider: "groq", mode: "api_key", email: "me@example.com" } } },
    });
  });

  test("a store order that omits the new id gets the (store) note; replacing clears windows, keeps lastUsed and same-type unknown fields", async () => {
    const sb = sandbox();
    const now = Date.now();
    sb.writeStore({
      version: 1,
      profiles: { "groq:a": { type: "api_key", provider: "groq", key: fake.groq(1), label: "mine" } },
      order: { groq: ["groq:a"] },
      usageStats: {
        "groq:a": { lastUsed: 7, lastFailureAt: 8, errorCount: 3, failureCounts: { auth_permanent: 3 }, disabledUntil: now + 3_600_000, disabledReason: "auth_permanent", needsRelogin: { reason: "revoked", at: 9 } },
      },
    });
    const r1 = await sb.run(["models", "auth", "paste-token", "--provider", "groq", "--profile-id", "groq:b"], { stdin: fake.groq(2) });
    expect(r1.code).toBe(0);
    expect(r1.stderr).toContain(
      "Note: the explicit order for groq (store) does not list groq:b, so it will not be used. Add it with: jarvis models auth order set --provider groq groq:a groq:b",
    );
    expect(sb.readStore().order).toEqual({ groq: ["groq:a"] });

    const r2 = await sb.run(["models", "auth", "paste-token", "--provider", "groq", "--type", "api_key", "--profile-id", "groq:a"], { stdin: fake.groq(3) });
    expect(r2.code).toBe(0);
    expect(r2.stderr).toContain("Replaced existing auth profile groq:a.");
    expect(r2.stderr).not.toContain("Note: the explicit order");
    const store = sb.readStore();
    expect(store.profiles["groq:a"]).toEqual({ type: "api_key", provider: "groq", key: fake.groq(3), label: "mine" });
    expect(store.usageStats["groq:a"]).toEqual({ lastUsed: 7, lastFailureAt: 8 });

    // A different type drops the old type's extra fields.
    const r3 = await sb.run(["models", "auth", "paste-token", "--provider", "groq", "--type", "token", "--profile-id", "groq:a"], { stdin: fake.groq(4) });
    expect(r3.code).toBe(0);
    expect(sb.readStore().profiles["groq:a"]).toEqual({ type: "token", provider: "groq", token: fake.groq(4) });
    expect(readConfig(sb).auth.profiles["groq:a"]).toEqual({ provider: "groq", mode: "token" });
  });
});
