// End-to-end: what `models auth paste-token` accepts and rejects on stdin (spec 05 §0–§1, 02 §5). Every rejected
// input must leave every file byte-identical (and its mtime unchanged); no output may contain a fixture secret.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { backdateTree, cleanupSandboxes, expectNoSecrets, fake, JARVIS, guardSecrets, sandbox as newSandbox, snapshotTree, type RunResult, type Sandbox } from "./helpers.ts";

afterAll(cleanupSandboxes);

/** Every run of every sandbox here fails on a whole fake secret in its output. */
const sandbox = () => guardSecrets(newSandbox());

const GROQ = fake.groq(1);
const EXISTING = fake.groq(9);

/** A sandbox with a store and a config already on disk (backdated), so "unchanged" is observable. */
function populated(): Sandbox {
  const sb = sandbox();
  sb.writeStore({ version: 1, profiles: { "groq:old": { type: "api_key", provider: "groq", key: EXISTING } }, custom: { keep: true } });
  sb.writeConfig({ auth: { profiles: { "groq:old": { provider: "groq", mode: "api_key" } } } });
  backdateTree(sb.home);
  return sb;
}

const ALL_SECRETS = [GROQ, EXISTING, fake.anthropicKey, fake.anthropicToken];

describe("paste-token rejects bad input with the spec's message and writes nothing", () => {
  const cases: Array<{ name: string; args?: string[]; stdin: string; code: number; message: string }> = [
    { name: "empty stdin", stdin: "", code: 1, message: "No token received on stdin." },
    { name: "whitespace only", stdin: "  \t\r\n \n", code: 1, message: "No token received on stdin." },
    { name: "quotes around nothing", stdin: '""\n', code: 1, message: "No token received on stdin." },
    {
      name: "curly quotes",
      stdin: `\u201c${GROQ}\u201d\n`,
      code: 1,
      message: "token contains U+201C at position 1 (curly quotes usually come from copying out of a document or chat)",
    },
    { name: "non-ASCII letter", stdin: "gsk_t\u00ebst_0123456789\n", code: 1, message: "token contains U+00EB at position 6" },
    { name: "an export line", stdin: `export GROQ_API_KEY=${GROQ}\n`, code: 1, message: "input looks like a shell command, not a secret" },
    { name: "a bare assignment", stdin: `GROQ_API_KEY=${GROQ}\n`, code: 1, message: "input looks like a shell command, not a secret" },
    { name: "a curl command", stdin: `curl -H "x: ${GROQ}"\n`, code: 1, message: "input looks like a shell command, not a secret" },
    {
      name: "a truncated setup-token",
      args: ["--provider", "anthropic"],
      stdin: `${fake.anthropicToken.slice(0, 61)}\n`,
      code: 1,
      message: "setup-token looks truncated: 61 chars, expected at least 80; your terminal may have wrapped it — paste the whole token",
    },
    {
      name: "a truncated Anthropic API key",
      args: ["--provider", "anthropic"],
      stdin: `${fake.anthropicKey.slice(0, 40)}\n`,
      code: 1,
      message: "Anthropic API key looks truncated: 40 chars, expected at least 80",
    },
    { name: "more than 65536 bytes", stdin: "a".repeat(65_537), code: 1, message: "input on stdin is larger than 65536 bytes" },
    { name: "missing --provider", args: [], stdin: `${GROQ}\n`, code: 64, message: "Missing --provider." },
    { name: "blank --provider", args: ["--provider", "  "], stdin: `${GROQ}\n`, code: 64, message: "Missing --provider." },
    { name: "--provider with invalid characters", args: ["--provider", "acme!"], stdin: `${GROQ}\n`, code: 64, message: "--provider" },
    { name: "--provider with a space inside", args: ["--provider", "ac me"], stdin: `${GROQ}\n`, code: 64, message: "--provider" },
    { name: "--provider starting with '-'", args: ["--provider=-acme"], stdin: `${GROQ}\n`, code: 64, message: "--provider" },
    { name: "--provider of 65 characters", args: ["--provider", "a".repeat(65)], stdin: `${GROQ}\n`, code: 64, message: "--provider" },
    { name: "--profile-id with a space", args: ["--provider", "groq", "--profile-id", "groq:a b"], stdin: `${GROQ}\n`, code: 64, message: "--profile-id" },
    { name: "--profile-id with a slash", args: ["--provider", "groq", "--profile-id", "groq/x"], stdin: `${GROQ}\n`, code: 64, message: "--profile-id" },
    { name: "--profile-id of 129 characters", args: ["--provider", "groq", "--profile-id", "g".repeat(129)], stdin: `${GROQ}\n`, code: 64, message: "--profile-id" },
    { name: "--type other", args: ["--provider", "groq", "--type", "oauth"], stdin: `${GROQ}\n`, code: 64, message: "--type" },
    { name: "--expires-in 30x", args: ["--provider", "groq", "--expires-in", "30x"], stdin: `${GROQ}\n`, code: 64, message: "invalid duration: 30x" },
    { name: "--expires-in 0", args: ["--provider", "groq", "--expires-in", "0"], stdin: `${GROQ}\n`, code: 64, message: "invalid duration: 0" },
    { name: "--expires-in '1h 30m'", args: ["--provider", "groq", "--expires-in", "1h 30m"], stdin: `${GROQ}\n`, code: 64, message: "invalid duration: 1h 30m" },
    {
      name: "--type api_key with --expires-in",
      args: ["--provider", "groq", "--type", "api_key", "--expires-in", "1d"],
      stdin: `${GROQ}\n`,
      code: 64,
      message: "--expires-in applies to tokens only.",
    },
    {
      name: "--expires-in on a value detected as an Anthropic API key",
      args: ["--provider", "anthropic", "--expires-in", "1d"],
      stdin: `${fake.anthropicKey}\n`,
      code: 64,
      message: "--expires-in applies to tokens only.",
    },
  ];

  for (const c of cases) {
    test(c.name, async () => {
      const sb = populated();
      const before = snapshotTree(sb.home);
      const r = await sb.run(["models", "auth", "paste-token", ...(c.args ?? ["--provider", "groq"])], { stdin: c.stdin });
      expect(r.code).toBe(c.code);
      expect(r.stderr).toContain(c.message);
      expect(r.stdout).toBe("");
      expectNoSecrets(r, ALL_SECRETS);
      expect(snapshotTree(sb.home)).toEqual(before);
    });
  }

  // 05 intro: flags are validated before any prompt or stdin read. A stdin that never ends proves it: a command
  // that read stdin first would hang until killed.
  for (const [name, args, message] of [
    ["--expires-in 30x", ["--provider", "groq", "--expires-in", "30x"], "invalid duration: 30x"],
    ["missing --provider", [], "Missing --provider."],
    ["--type api_key --expires-in 1d", ["--provider", "groq", "--type", "api_key", "--expires-in", "1d"], "--expires-in applies to tokens only."],
  ] as const) {
    test(`${name} fails with 64 before reading stdin`, async () => {
      const sb = populated();
      const before = snapshotTree(sb.home);
      const proc = Bun.spawn([JARVIS, "models", "auth", "paste-token", ...args], { env: sb.env, cwd: "/", stdin: "pipe", stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      const code = await proc.exited;
      clearTimeout(timer);
      proc.stdin.end();
      const stderr = await new Response(proc.stderr).text();
      expect(code).toBe(64);
      expect(stderr).toContain(message);
      expect(snapshotTree(sb.home)).toEqual(before);
    });
  }

  test("an invalid store is never overwritten", async () => {
    const sb = sandbox();
    sb.writeStore("{ not json");
    backdateTree(sb.home);
    const before = snapshotTree(sb.home);
    const r = await sb.run(["models", "auth", "paste-token", "--provider", "groq"], { stdin: GROQ });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${sb.storePath} is not valid JSON`);
    expect(r.stderr).toContain("jarvis will not use or overwrite it");
    expectNoSecrets(r, [GROQ]);
    expect(snapshotTree(sb.home)).toEqual(before);
  });

  test("a legacy flat store is refused for writes", async () => {
    const sb = sandbox();
    sb.writeStore({ anthropic: { type: "api_key", provider: "anthropic", key: fake.anthropicKey } });
    backdateTree(sb.home);
    const before = snapshotTree(sb.home);
    const r = await sb.run(["models", "auth", "paste-token", "--provider", "groq"], { stdin: GROQ });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("auth-profiles.json uses the legacy flat layout; run jarvis doctor --fix to migrate it (a backup is kept)");
    expectNoSecrets(r, ALL_SECRETS);
    expect(snapshotTree(sb.home)).toEqual(before);
  });
});

describe("paste-token accepts and normalises pasted input", () => {
  const stored = (sb: Sandbox, id: string) => sb.readStore().profiles[id];
  const accept = async (stdin: string, args: string[] = ["--provider", "groq"]): Promise<{ sb: Sandbox; r: RunResult }> => {
    const sb = sandbox();
    const r = await sb.run(["models", "auth", "paste-token", ...args], { stdin });
    expectNoSecrets(r, ALL_SECRETS);
    return { sb, r };
  };

  test.each([
    ["a plain line", `${GROQ}\n`],
    ["no trailing newline", GROQ],
    ["CRLF line ending", `${GROQ}\r\n`],
    ["wrapped lines", `${GROQ.slice(0, 10)}\n${GROQ.slice(10, 20)}\n${GROQ.slice(20)}\n`],
    ["wrapped CRLF lines with indentation", `  ${GROQ.slice(0, 12)}\r\n    ${GROQ.slice(12)}\r\n`],
    ["double quotes", `"${GROQ}"\n`],
    ["single quotes with spaces", `  '  ${GROQ}  '  \n`],
    ["backticks", `\`${GROQ}\`\n`],
    ["BOM and no-break spaces around", `\ufeff\u00a0${GROQ}\u00a0\n`],
  ])("%s → stored exactly once, joined and trimmed", async (_name, stdin) => {
    const { sb, r } = await accept(stdin);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Auth profile: groq:manual (groq/token)\n");
    expect(stored(sb, "groq:manual")).toEqual({ type: "token", provider: "groq", token: GROQ });
    expect(JSON.parse(fs.readFileSync(sb.configPath, "utf8"))).toEqual({
      auth: { profiles: { "groq:manual": { provider: "groq", mode: "token" } } },
    });
    expect(r.stderr).toContain("Updated ~/.jarvis/jarvis.json");
  });

  test("anthropic sk-ant-api value is detected as an API key", async () => {
    const { sb, r } = await accept(`${fake.anthropicKey}\n`, ["--provider", "anthropic"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Detected an Anthropic API key; storing it as type api_key.");
    expect(r.stdout).toBe("Auth profile: anthropic:manual (anthropic/api_key)\n");
    expect(stored(sb, "anthropic:manual")).toEqual({ type: "api_key", provider: "anthropic", key: fake.anthropicKey });
  });

  test("explicit --type api_key on a setup-token warns and stores an api_key", async () => {
    const { sb, r } = await accept(fake.anthropicToken, ["--provider", "anthropic", "--type", "api_key"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("this looks like a setup-token");
    expect(stored(sb, "anthropic:manual")).toEqual({ type: "api_key", provider: "anthropic", key: fake.anthropicToken });
  });

  test("--expires-in 30d stores an absolute epoch-ms expiry and prints it", async () => {
    const t0 = Date.now();
    const { sb, r } = await accept(GROQ, ["--provider", "groq", "--expires-in", "30d"]);
    const t1 = Date.now();
    expect(r.code).toBe(0);
    const p = stored(sb, "groq:manual");
    expect(p.expires).toBeGreaterThanOrEqual(t0 + 30 * 86_400_000);
    expect(p.expires).toBeLessThanOrEqual(t1 + 30 * 86_400_000);
    expect(r.stdout).toBe(`Auth profile: groq:manual (groq/token)\nExpires: ${new Date(p.expires).toISOString().replace(/\.\d{3}Z$/, "Z")} (in 30d)\n`);
  });

  test("a bare --expires-in number counts days, 1h30m is summed", async () => {
    const a = await accept(GROQ, ["--provider", "groq", "--expires-in", "2"]);
    const b = await accept(GROQ, ["--provider", "groq", "--expires-in", "1h30m"]);
    const pa = stored(a.sb, "groq:manual");
    const pb = stored(b.sb, "groq:manual");
    expect(Math.abs(pa.expires - Date.now() - 2 * 86_400_000)).toBeLessThan(60_000);
    expect(Math.abs(pb.expires - Date.now() - 5_400_000)).toBeLessThan(60_000);
  });

  test("a well-formed unknown provider id is accepted with a warning", async () => {
    const { sb, r } = await accept(GROQ, ["--provider", "acme-ai.v2_x"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('provider "acme-ai.v2_x"');
    expect(r.stderr).toMatch(/warn/i);
    expect(stored(sb, "acme-ai.v2_x:manual")).toEqual({ type: "token", provider: "acme-ai.v2_x", token: GROQ });
  });

  test("an upper-case provider is normalised", async () => {
    const { sb, r } = await accept(GROQ, ["--provider", "GROQ"]);
    expect(r.code).toBe(0);
    expect(stored(sb, "groq:manual")).toEqual({ type: "token", provider: "groq", token: GROQ });
  });

  test("a profile id without the provider prefix is accepted with a warning", async () => {
    const { sb, r } = await accept(GROQ, ["--provider", "groq", "--profile-id", "mykey"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('profile id "mykey"');
    expect(r.stdout).toBe("Auth profile: mykey (groq/token)\n");
    expect(stored(sb, "mykey")).toEqual({ type: "token", provider: "groq", token: GROQ });
  });

  test("a numeric-looking profile id is kept as the raw string", async () => {
    const { sb, r } = await accept(GROQ, ["--provider", "groq", "--profile-id", "groq:007"]);
    expect(r.code).toBe(0);
    expect(Object.keys(sb.readStore().profiles)).toEqual(["groq:007"]);
  });
});
