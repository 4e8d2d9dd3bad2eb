// argv edge cases through the compiled binary (spec README "Command tree", "Exit codes", Library pitfalls: cac):
// a value option without its value, camelCase spellings, unknown options named as typed, group commands without a
// sub-command, huge durations, an env var whose value is its own name, and invalid entries sorted into auth list.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { cleanupSandboxes, sandbox } from "./helpers.ts";

afterAll(cleanupSandboxes);

describe("usage errors are exit 64 with the option as typed", () => {
  test.each([
    [["--profile"], "error: Option --profile needs a value."],
    [["models", "status", "--probeTimeout", "5"], "error: Unknown option `--probeTimeout`. Run jarvis --help."],
    [["onboard", "--non-interactive", "--accept-risk"], "error: Unknown option `--accept-risk`. Run jarvis --help."],
    [["models", "auth", "order"], 'error: Unknown command "models auth order". Run jarvis --help.'],
    [["models", "auth", "list", "--provider", ""], "error: Missing --provider."],
    [["models", "auth", "list", "--provider"], "error: Missing --provider."],
    [["models", "status", "--warn-within", "999999999999999999999d"], "error: invalid duration: 999999999999999999999d"],
  ])("%p", async (args, message) => {
    const sb = sandbox();
    const r = await sb.run(args as string[]);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim()).toBe(message);
    expect(fs.existsSync(sb.state)).toBe(false);
  });

  test("paste-token --expires-in beyond any valid timestamp is rejected before reading stdin, nothing written", async () => {
    const sb = sandbox();
    const r = await sb.run(["models", "auth", "paste-token", "--provider", "groq", "--expires-in", "100000000d"], { stdin: "abcdefgh" });
    expect(r.code).toBe(64);
    expect(r.stderr.trim()).toBe("error: invalid duration: 100000000d");
    expect(fs.existsSync(sb.state)).toBe(false);
  });
});

describe("env values", () => {
  test("a variable whose value is its own name counts as unset (02 §1)", async () => {
    const sb = sandbox();
    const r = await sb.run(["models", "status", "--json"], { env: { OPENAI_API_KEY: "OPENAI_API_KEY" } });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.auth.providers.find((p: { provider: string }) => p.provider === "openai")).toBeUndefined();
  });
});

describe("auth list", () => {
  test("invalid entries are sorted with their provider, among the remaining profiles by id (05 §4)", async () => {
    const sb = sandbox();
    sb.writeStore({
      version: 1,
      profiles: {
        "groq:zz": { type: "api_key", provider: "groq", key: "gsk_TESTFAKE_zz_000000" },
        "groq:bad": { type: "weird", provider: "groq" },
        "anthropic:x": { type: "api_key", provider: "anthropic", key: 5 },
        "groq:aa": { type: "api_key", provider: "groq", key: "gsk_TESTFAKE_aa_000000" },
      },
      order: { groq: ["groq:zz"] },
    });
    const r = await sb.run(["models", "auth", "list", "--json"]);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout).profiles as Array<{ profileId: string; provider: string; type: string }>;
    expect(rows.map((x) => x.profileId)).toEqual(["anthropic:x", "groq:zz", "groq:aa", "groq:bad"]);
    expect(rows[0]).toMatchObject({ provider: "anthropic", type: "?" });
  });
});

describe("write failures", () => {
  test("a lock that cannot be created is a named write error (exit 1), not an unexpected failure", async () => {
    const sb = sandbox();
    // The agent dir is a file: creating the store lock fails with ENOTDIR.
    fs.mkdirSync(sb.state + "/agents/main", { recursive: true });
    fs.writeFileSync(sb.agentDir, "not a dir");
    const r = await sb.run(["models", "auth", "paste-token", "--provider", "groq"], { stdin: "gsk_TESTFAKE_write_0000" });
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain("unexpected failure");
    expect(r.stderr).toMatch(/cannot (write|read)/);
  });
});
