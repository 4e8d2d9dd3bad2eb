// End-to-end under a real pseudo-terminal (util-linux `script`): the masked reader, bracketed and unbracketed pastes,
// setup-token's attempts and `claude` question, Ctrl+C (exit 130, nothing written) and remove's confirmation
// (spec 05 §0–§2, §5; README "Prompts").
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { backdateTree, cleanupSandboxes, expectNoSecrets, fake, FAKE_SECRET_PATTERNS, runPty, guardSecrets, sandbox as newSandbox, snapshotTree, type PtyStep, type Sandbox } from "./helpers.ts";

afterAll(cleanupSandboxes);

/** Every run of every sandbox here fails on a whole fake secret in its output. */
const sandbox = () => guardSecrets(newSandbox());

const TOKEN = fake.anthropicToken;
const PASTE_PROMPT = "Paste the setup-token (sk-ant-oat01-…)";
const NO_CLAUDE = "Run `claude setup-token` on a machine with Claude Code (Claude Pro/Max subscription; it needs a TTY), then paste the token here.";
const HINT = "Anthropic recommends an API key for direct API use; a setup-token works only for requests that Anthropic allows for Claude subscriptions.";

/** The token in pieces as a terminal wraps it, none of which may be echoed either. */
const PIECES = [TOKEN.slice(0, 33), TOKEN.slice(33, 66), TOKEN.slice(66)];

/** Run under a pty; no fake secret may show up whole on the terminal, whatever the test checks on top. */
async function pty(sb: Sandbox, args: string[], steps: PtyStep[], env: Record<string, string> = {}, redirect?: string) {
  const r = await runPty(args, { env: { ...sb.env, ...env }, steps, redirect });
  expectNoSecrets(r.output, FAKE_SECRET_PATTERNS.filter((x): x is string => typeof x === "string"));
  expect(r.output).not.toMatch(/gsk_TESTFAKE_\d{4}_groqkey/);
  return r;
}

/** Nothing of the secret on the terminal: not whole, not any wrapped piece of it. */
function expectMasked(output: string, secrets: string[] = [TOKEN, ...PIECES]): void {
  expectNoSecrets(output, secrets);
}

function storedToken(sb: Sandbox, id = "anthropic:manual"): unknown {
  return sb.readStore().profiles[id];
}

describe("masked prompt on a terminal", () => {
  test("paste-token: typed in chunks with a Backspace, never echoed, counter shown, stored", async () => {
    const sb = sandbox();
    const r = await pty(sb, ["models", "auth", "paste-token", "--provider", "anthropic"], [
      { expect: "Paste token for anthropic:", send: "X" },
      { delayMs: 30, send: "\x7f" },
      { delayMs: 30, send: PIECES[0] },
      { delayMs: 30, send: PIECES[1] },
      { delayMs: 30, send: PIECES[2] },
      { expect: `(${TOKEN.length} chars)`, delayMs: 30, send: "\r" },
    ]);
    expect(r.code).toBe(0);
    expectMasked(r.output);
    expect(r.output).toContain("\x1b[?2004h");
    expect(r.output).toContain("\x1b[?2004l");
    expect(r.output).toContain("Auth profile: anthropic:manual (anthropic/token)");
    expect(storedToken(sb)).toEqual({ type: "token", provider: "anthropic", token: TOKEN });
  });

  test("setup-token: a wrapped multi-line bracketed paste is joined; Enter inside the paste does not end input", async () => {
    const sb = sandbox();
    const r = await pty(sb, ["models", "auth", "setup-token"], [
      { expect: PASTE_PROMPT, send: `\x1b[200~${PIECES[0]}\r\n${PIECES[1]}\r${PIECES[2]}\n\x1b[201~` },
      // More than the 150 ms paste gap: only a bracketed paste can keep the input open this long.
      { delayMs: 400, send: "\r" },
    ]);
    expect(r.code).toBe(0);
    expectMasked(r.output);
    expect(r.output).toContain(NO_CLAUDE);
    expect(r.output).toContain("Auth profile: anthropic:manual (anthropic/token)");
    expect(r.output).toContain(HINT);
    expect(storedToken(sb)).toEqual({ type: "token", provider: "anthropic", token: TOKEN });
    expect(JSON.parse(fs.readFileSync(sb.configPath, "utf8")).auth.profiles["anthropic:manual"]).toEqual({ provider: "anthropic", mode: "token" });
  });

  test("setup-token: an unbracketed paste with newlines (bytes within 150 ms) is one input", async () => {
    const sb = sandbox();
    const r = await pty(sb, ["models", "auth", "setup-token", "--profile-id", "anthropic:sub"], [
      { expect: PASTE_PROMPT, send: `${PIECES[0]}\r${PIECES[1]}\r${PIECES[2]}` },
      { delayMs: 400, send: "\r" },
    ]);
    expect(r.code).toBe(0);
    expectMasked(r.output);
    expect(storedToken(sb, "anthropic:sub")).toEqual({ type: "token", provider: "anthropic", token: TOKEN });
  });

  test("setup-token: three bad attempts → exit 1, each message shown, nothing written", async () => {
    const sb = sandbox();
    sb.writeStore({ version: 1, profiles: {} });
    backdateTree(sb.home);
    const before = snapshotTree(sb.home);
    const r = await pty(sb, ["models", "auth", "setup-token"], [
      { expect: PASTE_PROMPT, send: `${fake.anthropicKey}\r` },
      { expect: "That is an API key, not a setup-token; store it with jarvis models auth paste-token --provider anthropic" },
      { expect: PASTE_PROMPT, send: `${TOKEN.slice(0, 61)}\r` },
      { expect: "setup-token looks truncated: 61 chars, expected at least 80; your terminal may have wrapped it — paste the whole token" },
      { expect: PASTE_PROMPT, send: "\u201csk-ant-oat01-x\u201d\r" },
    ]);
    expect(r.code).toBe(1);
    expect(r.output).toContain("U+201C at position 1");
    expectMasked(r.output, [TOKEN, fake.anthropicKey, TOKEN.slice(0, 61)]);
    expect(r.output).not.toContain("Auth profile:");
    expect(snapshotTree(sb.home)).toEqual(before);
  });

  test("setup-token: a bad attempt then a good one → stored", async () => {
    const sb = sandbox();
    const r = await pty(sb, ["models", "auth", "setup-token"], [
      { expect: PASTE_PROMPT, send: "\r" },
      { expect: PASTE_PROMPT, send: `${TOKEN}\r` },
    ]);
    expect(r.code).toBe(0);
    expectMasked(r.output);
    expect(storedToken(sb)).toEqual({ type: "token", provider: "anthropic", token: TOKEN });
  });

  test("setup-token keeps a stricter store mode and replaces an existing profile's credential", async () => {
    const sb = sandbox();
    sb.writeStore({
      version: 1,
      profiles: { "anthropic:manual": { type: "token", provider: "anthropic", token: "sk-ant-oat01-old", note: "mine" } },
      usageStats: { "anthropic:manual": { lastUsed: 5, disabledUntil: Date.now() + 3_600_000, disabledReason: "auth_permanent", errorCount: 2 } },
    });
    fs.chmodSync(sb.storePath, 0o400);
    const r = await pty(sb, ["models", "auth", "setup-token"], [{ expect: PASTE_PROMPT, send: `${TOKEN}\r` }]);
    expect(r.code).toBe(0);
    expect(r.output).toContain("Replaced existing auth profile anthropic:manual.");
    const store = sb.readStore();
    expect(store.profiles["anthropic:manual"]).toEqual({ type: "token", provider: "anthropic", token: TOKEN, note: "mine" });
    expect(store.usageStats["anthropic:manual"]).toEqual({ lastUsed: 5 });
    expect(fs.statSync(sb.storePath).mode & 0o777).toBe(0o400);
  });
});

describe("Ctrl+C cancels with exit 130 and writes nothing", () => {
  const cases: Array<[string, string[], PtyStep[], boolean]> = [
    ["paste-token at the prompt", ["models", "auth", "paste-token", "--provider", "groq"], [{ expect: "Paste token for groq:", send: "\x03" }], false],
    [
      "setup-token in the middle of a paste",
      ["models", "auth", "setup-token"],
      [{ expect: PASTE_PROMPT, send: PIECES[0] }, { delayMs: 30, send: "\x03" }],
      false,
    ],
    [
      "setup-token after a failed attempt",
      ["models", "auth", "setup-token"],
      [{ expect: PASTE_PROMPT, send: "nope\r" }, { expect: PASTE_PROMPT, send: "\x03" }],
      false,
    ],
    ["the claude question", ["models", "auth", "setup-token"], [{ expect: "Run `claude setup-token` now? [Y/n]", send: "\x03" }], true],
    ["remove's confirmation", ["models", "auth", "remove", "groq:a"], [{ expect: "[y/N]", send: "\x03" }], false],
  ];
  for (const [name, args, steps, withClaude] of cases) {
    test(name, async () => {
      const sb = sandbox();
      sb.writeStore({ version: 1, profiles: { "groq:a": { type: "api_key", provider: "groq", key: fake.groq(1) } } });
      sb.writeConfig({ auth: { profiles: { "groq:a": { provider: "groq", mode: "api_key" } } } });
      const bin = fakeClaude(sb, 'echo "FAKE CLAUDE RAN"');
      backdateTree(sb.home);
      const before = snapshotTree(sb.home);
      const r = await pty(sb, args, steps, withClaude ? { PATH: `${bin}:/usr/bin:/bin` } : {});
      expect(r.code).toBe(130);
      expect(r.output).not.toContain("FAKE CLAUDE RAN");
      expectMasked(r.output, [TOKEN, PIECES[0]!, fake.groq(1)]);
      expect(snapshotTree(sb.home)).toEqual(before);
    });
  }
});

/** Write an executable fake `claude` into ~/bin; returns that dir. */
function fakeClaude(sb: Sandbox, body: string): string {
  const bin = path.join(sb.home, "bin");
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, "claude"), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return bin;
}

describe("setup-token with `claude` on PATH", () => {
  const QUESTION = "Run `claude setup-token` now? [Y/n]";

  test("Enter (default yes) runs `claude setup-token` on the terminal, which can read its own input; then the paste prompt", async () => {
    const sb = sandbox();
    const bin = fakeClaude(sb, 'printf "FAKE CLAUDE args=%s\\ncode? " "$*"; read -r code; echo "FAKE CLAUDE got $code"');
    const r = await pty(
      sb,
      ["models", "auth", "setup-token"],
      [
        { expect: QUESTION, send: "\r" },
        { expect: "code? ", delayMs: 50, send: "abc123\r" },
        { expect: PASTE_PROMPT, send: `${TOKEN}\r` },
      ],
      { PATH: `${bin}:/usr/bin:/bin` },
    );
    expect(r.code).toBe(0);
    expect(r.output).toContain("FAKE CLAUDE args=setup-token");
    expect(r.output).toContain("FAKE CLAUDE got abc123");
    expect(r.output).not.toContain(NO_CLAUDE);
    expectMasked(r.output);
    expect(storedToken(sb)).toEqual({ type: "token", provider: "anthropic", token: TOKEN });
  });

  test("answering n skips claude and goes to the paste prompt", async () => {
    const sb = sandbox();
    const bin = fakeClaude(sb, 'echo "FAKE CLAUDE RAN"');
    const r = await pty(sb, ["models", "auth", "setup-token"], [{ expect: QUESTION, send: "n\r" }, { expect: PASTE_PROMPT, send: `${TOKEN}\r` }], {
      PATH: `${bin}:/usr/bin:/bin`,
    });
    expect(r.code).toBe(0);
    expect(r.output).not.toContain("FAKE CLAUDE RAN");
    expect(storedToken(sb)).toEqual({ type: "token", provider: "anthropic", token: TOKEN });
  });

  test("--yes runs it without asking; a failing claude only warns", async () => {
    const sb = sandbox();
    const bin = fakeClaude(sb, 'echo "FAKE CLAUDE RAN"; exit 3');
    const r = await pty(sb, ["models", "auth", "setup-token", "--yes"], [{ expect: PASTE_PROMPT, send: `${TOKEN}\r` }], { PATH: `${bin}:/usr/bin:/bin` });
    expect(r.code).toBe(0);
    expect(r.output).not.toContain(QUESTION);
    expect(r.output).toContain("FAKE CLAUDE RAN");
    expect(r.output).toMatch(/warn.*claude setup-token/i);
    expect(storedToken(sb)).toEqual({ type: "token", provider: "anthropic", token: TOKEN });
  });
});

describe("without a terminal", () => {
  test("setup-token with stdin not a TTY → exit 1 with the spec message, nothing created", async () => {
    const sb = sandbox();
    const r = await sb.run(["models", "auth", "setup-token"], { stdin: `${TOKEN}\n` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "setup-token requires an interactive TTY. To store a token non-interactively, pipe it into: jarvis models auth paste-token --provider anthropic",
    );
    expect(r.stdout).toBe("");
    expectNoSecrets(r, [TOKEN]);
    expect(fs.existsSync(sb.state)).toBe(false);
  });

  test("setup-token with a TTY stdin but stdout piped → exit 1 (needs both)", async () => {
    const sb = sandbox();
    const out = path.join(sb.home, "out.txt");
    const r = await pty(sb, ["models", "auth", "setup-token"], [], {}, `> ${out}`);
    expect(r.code).toBe(1);
    expect(r.output).toContain("setup-token requires an interactive TTY.");
    expect(fs.existsSync(sb.state)).toBe(false);
  });

  test("paste-token with a TTY stdin but stdout piped → exit 1 naming the stdin form", async () => {
    const sb = sandbox();
    const out = path.join(sb.home, "out.txt");
    const r = await pty(sb, ["models", "auth", "paste-token", "--provider", "groq"], [], {}, `> ${out}`);
    expect(r.code).toBe(1);
    expect(r.output).toContain(`needs a terminal, or the token on stdin (e.g. printf '%s' "$TOKEN" | jarvis models auth paste-token --provider groq).`);
    expect(fs.existsSync(sb.state)).toBe(false);
  });

  test("setup-token --provider openai → 64", async () => {
    const sb = sandbox();
    const r = await sb.run(["models", "auth", "setup-token", "--provider", "openai"]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("Only --provider anthropic is supported for setup-token.");
  });
});

describe("remove asks on a terminal", () => {
  const QUESTION = "Remove auth profile groq:a (groq/api_key)? This deletes the stored credential. [y/N]";
  const setup = () => {
    const sb = sandbox();
    sb.writeStore({ version: 1, profiles: { "groq:a": { type: "api_key", provider: "groq", key: fake.groq(1) } } });
    sb.writeConfig({ auth: { profiles: { "groq:a": { provider: "groq", mode: "api_key" } } } });
    backdateTree(sb.home);
    return sb;
  };

  test("y removes", async () => {
    const sb = setup();
    const r = await pty(sb, ["models", "auth", "remove", "groq:a"], [{ expect: QUESTION, send: "y\r" }]);
    expect(r.code).toBe(0);
    expect(r.output).toContain("Removed auth profile groq:a (store: removed; config: removed from auth.profiles).");
    expect(sb.readStore().profiles).toEqual({});
    expect(JSON.parse(fs.readFileSync(sb.configPath, "utf8")).auth.profiles).toEqual({});
    expectNoSecrets(r.output, [fake.groq(1)]);
  });

  for (const [name, answer] of [
    ["n", "n\r"],
    ["Enter (default no)", "\r"],
  ] as const) {
    test(`${name} keeps everything`, async () => {
      const sb = setup();
      const before = snapshotTree(sb.home);
      const r = await pty(sb, ["models", "auth", "remove", "groq:a"], [{ expect: QUESTION, send: answer }]);
      expect(r.code).toBe(0);
      expect(r.output).not.toContain("Removed auth profile");
      expect(snapshotTree(sb.home)).toEqual(before);
    });
  }
});
