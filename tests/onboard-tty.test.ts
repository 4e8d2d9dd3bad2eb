// The `jarvis onboard` wizard (spec 09 §2.1) driven end to end under a real pseudo-terminal: choose a method, paste
// a key into the masked prompt (never echoed), pick where to keep it, answer the default-model question; and Ctrl+C
// at each kind of prompt → exit 130 with nothing written (all writes happen at the end).
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { JARVIS, backdateTree, cleanupSandboxes, expectNoSecrets, fake, sandbox, snapshotTree, type Sandbox } from "./helpers.ts";

afterAll(cleanupSandboxes);

const KEY = fake.anthropicKey;
const DOWN = "\x1b[B";

interface Step {
  expect: string;
  send: string;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** Strip ANSI escapes so prompts can be matched as plain text. */
const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z~]/g, "").replace(/\x1b[=>]/g, "");

/**
 * A small pty driver: `script -qfec` gives jarvis a terminal (stdin and stdout are TTYs); the terminal gets a real
 * size first (`stty`), since the select prompt lays itself out by the column count. Each step waits for its text
 * (after the previous match), then types.
 */
async function wizard(sb: Sandbox, steps: Step[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  const cmd = `stty cols 120 rows 40; exec ${[JARVIS, "onboard"].map(quote).join(" ")}`;
  const proc = Bun.spawn(["script", "-qfec", cmd, "/dev/null"], {
    env: { TERM: "xterm", ...sb.env, ...env },
    cwd: "/",
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  let wake: (() => void) | undefined;
  const reader = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      output += dec.decode(chunk, { stream: true });
      wake?.();
    }
    wake?.();
  })();
  const killer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  let from = 0;
  try {
    for (const step of steps) {
      for (;;) {
        const at = plain(output).indexOf(step.expect, from);
        if (at >= 0) {
          from = at + step.expect.length;
          break;
        }
        if (proc.exitCode !== null) throw new Error(`wizard exited before showing ${JSON.stringify(step.expect)}:\n${plain(output)}`);
        await Promise.race([new Promise<void>((r) => (wake = r)), Bun.sleep(50)]);
      }
      await Bun.sleep(60);
      proc.stdin.write(step.send);
      await proc.stdin.flush();
    }
    const code = await proc.exited;
    await reader;
    return { code, output };
  } finally {
    clearTimeout(killer);
    if (proc.exitCode === null) proc.kill("SIGKILL");
  }
}

describe("onboard wizard on a terminal", () => {
  test("Anthropic API key: masked prompt, auth store, default model; verified and next steps shown", async () => {
    const sb = sandbox();
    const r = await wizard(sb, [
      { expect: "Choose an auth method", send: "\r" },
      { expect: "Paste the Anthropic API key", send: KEY.slice(0, 50) },
      { expect: "chars)", send: KEY.slice(50) + "\r" },
      { expect: "Where should jarvis keep it?", send: "\r" },
      { expect: "Make anthropic/claude-opus-4-6 the default model? [y/N]", send: "y\r" },
    ]);
    expectNoSecrets(r.output, [KEY, KEY.slice(0, 50), KEY.slice(50)]);
    expect(r.code).toBe(0);
    const out = plain(r.output);
    expect(out).toContain("anthropic [in use]: missing");
    expect(out).toContain("Stored anthropic credential in auth store profile anthropic:default; verified.");
    expect(out).toContain("Default model: anthropic/claude-opus-4-6");
    expect(out).toContain("Next: jarvis models status");
    expect(sb.readStore().profiles).toEqual({ "anthropic:default": { type: "api_key", provider: "anthropic", key: KEY } });
    expect(JSON.parse(fs.readFileSync(sb.configPath, "utf8")).agents.defaults.model).toEqual({ primary: "anthropic/claude-opus-4-6" });
  });

  test("a key found in the env is offered, and can go to ~/.jarvis/.env for daemons", async () => {
    const sb = sandbox();
    const r = await wizard(
      sb,
      [
        { expect: "Choose an auth method", send: "\r" },
        { expect: "Use the ANTHROPIC_API_KEY found in env? [Y/n]", send: "\r" },
        { expect: "Where should jarvis keep it?", send: DOWN },
        { expect: "~/.jarvis/.env (read by daemons)", send: "\r" },
        { expect: "the default model? [y/N]", send: "\r" },
      ],
      { ANTHROPIC_API_KEY: KEY },
    );
    expectNoSecrets(r.output, [KEY]);
    expect(r.code).toBe(0);
    expect(plain(r.output)).toContain("Stored anthropic credential in ~/.jarvis/.env (ANTHROPIC_API_KEY); verified.");
    expect(fs.readFileSync(path.join(sb.state, ".env"), "utf8")).toBe(`ANTHROPIC_API_KEY=${KEY}\n`);
    expect(fs.existsSync(sb.storePath)).toBe(false);
    expect(fs.existsSync(sb.configPath)).toBe(false);
  });

  test("a custom loopback endpoint: URL, model id, compatibility, no key, default model", async () => {
    const sb = sandbox();
    const UP = "\x1b[A";
    const r = await wizard(sb, [
      { expect: "Choose an auth method", send: UP + UP },
      { expect: "Custom OpenAI/Anthropic-compatible endpoint", send: "\r" },
      { expect: "Base URL of the endpoint", send: "http://127.0.0.1:9/v1\r" },
      { expect: "Model id", send: "m1\r" },
      { expect: "API compatibility", send: "\r" },
      { expect: "Paste the API key (Enter for none)", send: "\r" },
      { expect: "Make custom-127-0-0-1/m1 the default model? [y/N]", send: "y\r" },
    ]);
    expect(r.code).toBe(0);
    expect(plain(r.output)).toContain("Configured custom-127-0-0-1 (http://127.0.0.1:9/v1) without an API key (loopback); verified.");
    expect(JSON.parse(fs.readFileSync(sb.configPath, "utf8"))).toEqual({
      models: { providers: { "custom-127-0-0-1": { baseUrl: "http://127.0.0.1:9/v1", api: "openai-completions", models: [{ id: "m1" }] } } },
      agents: { defaults: { model: { primary: "custom-127-0-0-1/m1" } } },
    });
  });

  const cancelCases: Array<[string, Step[]]> = [
    ["the method menu", [{ expect: "Choose an auth method", send: "\x03" }]],
    [
      "the masked key prompt",
      [
        { expect: "Choose an auth method", send: "\r" },
        { expect: "Paste the Anthropic API key", send: KEY.slice(0, 20) },
        { expect: "(20 chars)", send: "\x03" },
      ],
    ],
    [
      "the last question, after every answer",
      [
        { expect: "Choose an auth method", send: "\r" },
        { expect: "Paste the Anthropic API key", send: KEY + "\r" },
        { expect: "Where should jarvis keep it?", send: "\r" },
        { expect: "the default model? [y/N]", send: "\x03" },
      ],
    ],
  ];
  test.each(cancelCases)("Ctrl+C at %s → exit 130, nothing written", async (_name, steps) => {
    const sb = sandbox();
    sb.writeConfig({ note: "unchanged" });
    backdateTree(sb.home);
    const before = snapshotTree(sb.home);
    const r = await wizard(sb, steps);
    expect(r.code).toBe(130);
    expectNoSecrets(r.output, [KEY, KEY.slice(0, 20)]);
    expect(snapshotTree(sb.home)).toEqual(before);
  });
});
