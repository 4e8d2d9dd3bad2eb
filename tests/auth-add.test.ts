// `models auth add` (spec 05 §3) under a real pseudo-terminal: provider and method pickers, profile id, the masked
// paste, the expiry question, and Ctrl+C writing nothing; without a TTY it refuses with the spec's message.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import fs from "node:fs";
import { cleanupSandboxes, expectNoSecrets, fake, guardSecrets, runPty, sandbox as newSandbox } from "./helpers.ts";

afterAll(cleanupSandboxes);
setDefaultTimeout(30_000);
const sandbox = () => guardSecrets(newSandbox());
const ENTER = "\r";
const DOWN = "\x1b[B";

describe("models auth add", () => {
  test("without a TTY: exit 1 with the spec's message, nothing created", async () => {
    const sb = sandbox();
    const r = await sb.run(["models", "auth", "add"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("models auth add is interactive; use paste-token, setup-token, login or import");
    expect(fs.existsSync(sb.state)).toBe(false);
  });

  test("anthropic → API key (paste) → default id anthropic:default → stored as api_key", async () => {
    const sb = sandbox();
    const r = await runPty(["models", "auth", "add"], {
      env: sb.env,
      size: { cols: 120, rows: 40 },
      steps: [
        { expect: "Provider", delayMs: 150, send: ENTER },
        { expect: "Method", delayMs: 150, send: ENTER },
        { expect: "Profile id", delayMs: 150, send: ENTER },
        { expect: "Paste token for anthropic", delayMs: 100, send: fake.anthropicKey + ENTER },
      ],
    });
    expectNoSecrets(r.output, [fake.anthropicKey]);
    expect(r.code).toBe(0);
    expect(r.output).toContain("Auth profile: anthropic:default (anthropic/api_key)");
    expect(sb.readStore().profiles["anthropic:default"]).toEqual({ type: "api_key", provider: "anthropic", key: fake.anthropicKey });
  });

  test("token (paste) with an expiry: an invalid duration is asked again, the token gets expires", async () => {
    const sb = sandbox();
    const before = Date.now();
    const r = await runPty(["models", "auth", "add"], {
      env: sb.env,
      size: { cols: 120, rows: 40 },
      steps: [
        { expect: "Provider", delayMs: 150, send: ENTER },
        { expect: "Method", delayMs: 150, send: DOWN },
        { delayMs: 150, send: ENTER },
        { expect: "Profile id", delayMs: 150, send: ENTER },
        { expect: "Does it expire? [y/N]", delayMs: 150, send: "y" + ENTER },
        { expect: "Expires in", delayMs: 150, send: "30x" + ENTER },
        { expect: "Invalid duration (e.g. 365d, 12h, 30m)", delayMs: 150, send: "2d" + ENTER },
        { expect: "Paste token for anthropic", delayMs: 100, send: fake.anthropicToken + ENTER },
      ],
    });
    expectNoSecrets(r.output, [fake.anthropicToken]);
    expect(r.code).toBe(0);
    const p = sb.readStore().profiles["anthropic:manual"];
    expect(p.type).toBe("token");
    expect(p.expires).toBeGreaterThanOrEqual(before + 2 * 86_400_000);
    expect(p.expires).toBeLessThan(Date.now() + 2 * 86_400_000 + 1000);
  });

  test("Ctrl+C at the method picker: exit 130, nothing written", async () => {
    const sb = sandbox();
    const r = await runPty(["models", "auth", "add"], {
      env: sb.env,
      size: { cols: 120, rows: 40 },
      steps: [
        { expect: "Provider", delayMs: 150, send: ENTER },
        { expect: "Method", delayMs: 150, send: "\x03" },
      ],
    });
    expect(r.code).toBe(130);
    expect(fs.existsSync(sb.storePath)).toBe(false);
    expect(fs.existsSync(sb.configPath)).toBe(false);
  });
});
