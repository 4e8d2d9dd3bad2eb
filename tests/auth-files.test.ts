// End-to-end: file modes of everything the auth commands write (README "File layout", 03 §4: 0600 files, 0700 new
// dirs, a stricter existing mode is kept, a looser one tightened) and the read-only guarantee (D3, 03 §3): status,
// auth list and order get leave every byte and mtime alone and create nothing — not even ~/.jarvis.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { backdateTree, cleanupSandboxes, expectNoSecrets, fake, JARVIS, guardSecrets, sandbox as newSandbox, snapshotTree, type Sandbox } from "./helpers.ts";

afterAll(cleanupSandboxes);

/** Every run of every sandbox here fails on a whole fake secret in its output. */
const sandbox = () => guardSecrets(newSandbox());

const mode = (p: string) => fs.statSync(p).mode & 0o777;
const oct = (m: number) => `0${m.toString(8)}`;

describe("modes", () => {
  for (const umask of ["022", "000", "077"]) {
    test(`a first paste-token under umask ${umask}: dirs 0700, store and config 0600`, async () => {
      const sb = sandbox();
      const proc = Bun.spawn(["/bin/sh", "-c", `umask ${umask}; exec "$0" "$@"`, JARVIS, "models", "auth", "paste-token", "--provider", "groq"], {
        env: sb.env,
        cwd: "/",
        stdin: new TextEncoder().encode(fake.groq(1)),
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(await proc.exited).toBe(0);
      for (const dir of [sb.state, path.join(sb.state, "agents"), path.join(sb.state, "agents", "main"), sb.agentDir]) {
        expect({ dir, mode: oct(mode(dir)) }).toEqual({ dir, mode: "0700" });
      }
      expect(oct(mode(sb.storePath))).toBe("0600");
      expect(oct(mode(sb.configPath))).toBe("0600");
      expect(fs.readdirSync(sb.agentDir)).toEqual(["auth-profiles.json"]);
    });
  }

  test("existing 0644 store and config are tightened to 0600 by paste-token; existing dirs keep their mode", async () => {
    const sb = sandbox();
    sb.writeStore({ version: 1, profiles: {} });
    sb.writeConfig({});
    fs.chmodSync(sb.storePath, 0o644);
    fs.chmodSync(sb.configPath, 0o644);
    fs.chmodSync(sb.state, 0o755);
    fs.chmodSync(sb.agentDir, 0o750);
    const r = await sb.run(["models", "auth", "paste-token", "--provider", "groq"], { stdin: fake.groq(1) });
    expect(r.code).toBe(0);
    expect(oct(mode(sb.storePath))).toBe("0600");
    expect(oct(mode(sb.configPath))).toBe("0600");
    expect(oct(mode(sb.state))).toBe("0755");
    expect(oct(mode(sb.agentDir))).toBe("0750");
  });

  test("a stricter existing mode (0400) is kept by every writer", async () => {
    const sb = sandbox();
    sb.writeStore({ version: 1, profiles: { "groq:a": { type: "api_key", provider: "groq", key: fake.groq(1) } } });
    sb.writeConfig({ auth: { profiles: { "groq:a": { provider: "groq", mode: "api_key" } } } });
    fs.chmodSync(sb.storePath, 0o400);
    fs.chmodSync(sb.configPath, 0o400);
    const steps: string[][] = [
      ["models", "auth", "paste-token", "--provider", "groq", "--profile-id", "groq:b"],
      ["models", "auth", "order", "set", "--provider", "groq", "groq:b", "groq:a"],
      ["models", "auth", "order", "clear", "--provider", "groq"],
      ["models", "auth", "remove", "groq:a", "--yes"],
    ];
    for (const args of steps) {
      const before = fs.readFileSync(sb.storePath, "utf8");
      const r = await sb.run(args, { stdin: fake.groq(2) });
      expect({ args, code: r.code }).toEqual({ args, code: 0 });
      expect(fs.readFileSync(sb.storePath, "utf8")).not.toBe(before);
      expect(oct(mode(sb.storePath))).toBe("0400");
      expect(oct(mode(sb.configPath))).toBe("0400");
    }
    expect(Object.keys(sb.readStore().profiles)).toEqual(["groq:b"]);
    expect(JSON.parse(fs.readFileSync(sb.configPath, "utf8")).auth.profiles).toEqual({ "groq:b": { provider: "groq", mode: "token" } });
  });

  test("a 0640 store is tightened by order set, and the jarvis.json.bak of a 0644 JSON5 config is 0600", async () => {
    const sb = sandbox();
    sb.writeStore({ version: 1, profiles: { "groq:a": { type: "api_key", provider: "groq", key: fake.groq(1) } } });
    fs.chmodSync(sb.storePath, 0o640);
    sb.writeConfig("// my config\n{ auth: { profiles: {} } }\n");
    fs.chmodSync(sb.configPath, 0o644);
    expect((await sb.run(["models", "auth", "order", "set", "--provider", "groq", "groq:a"])).code).toBe(0);
    expect(oct(mode(sb.storePath))).toBe("0600");
    expect((await sb.run(["models", "auth", "paste-token", "--provider", "groq"], { stdin: fake.groq(2) })).code).toBe(0);
    expect(oct(mode(sb.configPath))).toBe("0600");
    expect(oct(mode(`${sb.configPath}.bak`))).toBe("0600");
  });
});

describe("read-only commands write nothing", () => {
  const READ_ONLY: string[][] = [
    ["models"],
    ["models", "status"],
    ["models", "status", "--json"],
    ["models", "status", "--plain"],
    ["models", "status", "--check"],
    ["models", "auth", "list"],
    ["models", "auth", "list", "--json"],
    ["models", "auth", "list", "--provider", "anthropic"],
    ["models", "auth", "order", "get", "--provider", "anthropic"],
    ["models", "auth", "order", "get", "--provider", "anthropic", "--json"],
    ["models", "auth", "order", "get", "--provider", "groq", "--json"],
  ];
  const SECRETS = [fake.anthropicKey, fake.anthropicToken, fake.openaiKey, fake.groq(1), fake.groq(2)];

  function populated(): Sandbox {
    const sb = sandbox();
    const now = Date.now();
    sb.writeStore({
      version: 1,
      profiles: {
        "anthropic:default": { type: "api_key", provider: "anthropic", key: fake.anthropicKey },
        "anthropic:manual": { type: "token", provider: "anthropic", token: fake.anthropicToken, expires: now - 1000 },
        "openai:legacy": { mode: "api_key", provider: "openai", apiKey: fake.openaiKey },
        "groq:bad": { type: "api_key", provider: "" },
        "groq:a": { type: "api_key", provider: "groq", key: fake.groq(1) },
      },
      order: { anthropic: ["anthropic:manual", "anthropic:default", "  anthropic:default "] },
      lastGood: { anthropic: "anthropic:default" },
      // An expired cooldown: a "repairing" reader would drop it.
      usageStats: { "anthropic:default": { lastUsed: now - 5000, cooldownUntil: now - 1000, cooldownReason: "rate_limit", errorCount: 1 } },
      extra: true,
    });
    sb.writeConfig(
      `// comments and JSON5: a writer would have to back this up\n{\n  agents: { defaults: { model: "anthropic/claude-sonnet-4-5" } },\n  auth: { profiles: { "anthropic:default": { provider: "anthropic", mode: "api_key" }, }, order: { groq: ["groq:a"] } },\n  env: { GROQ_API_KEY: "${fake.groq(2)}" },\n}\n`,
    );
    sb.write(".jarvis/.env", `OPENAI_API_KEY=${fake.openaiKey}\n`);
    // A lock left by a dead pid: only a writer may clear it.
    sb.write(`${sb.storePath}.lock`, `${JSON.stringify({ pid: 2 ** 22 + 12345, createdAt: now - 60_000 })}\n`);
    backdateTree(sb.home);
    return sb;
  }

  for (const args of READ_ONLY) {
    test(`${args.join(" ")}: every file byte-identical, same mtime, nothing created (populated HOME)`, async () => {
      const sb = populated();
      const before = snapshotTree(sb.home);
      const r = await sb.run(args);
      expect([0, 1, 2]).toContain(r.code);
      expect(r.stderr).not.toContain("unexpected failure");
      expectNoSecrets(r, SECRETS);
      expect(snapshotTree(sb.home)).toEqual(before);
    });

    test(`${args.join(" ")}: an empty HOME stays empty (no ~/.jarvis)`, async () => {
      const sb = sandbox();
      backdateTree(sb.home);
      const before = snapshotTree(sb.home);
      const r = await sb.run(args);
      expect([0, 1, 2]).toContain(r.code);
      expect(r.stderr).not.toContain("unexpected failure");
      expect(fs.existsSync(sb.state)).toBe(false);
      expect(snapshotTree(sb.home)).toEqual(before);
    });
  }

  test("auth list and order get with a state dir but no agent dir create no agent dir", async () => {
    const sb = sandbox();
    sb.writeConfig({ auth: { order: { anthropic: ["anthropic:x"] } } });
    backdateTree(sb.home);
    const before = snapshotTree(sb.home);
    for (const args of READ_ONLY) {
      const r = await sb.run(args);
      expect([0, 1, 2]).toContain(r.code);
    }
    expect(fs.existsSync(path.join(sb.state, "agents"))).toBe(false);
    expect(snapshotTree(sb.home)).toEqual(before);
  });
});
