// `jarvis monitor run` end to end (spec 10 §1.2): the compiled binary checks fixture states through its own child
// `models status --check --json`, notifies through a fake notify command (appends to a file) or a local ntfy
// server, at most once an hour (state.json's lastNotifiedAt is moved to test the window), and fails closed when the
// check itself breaks (broken config, binary gone, binary crashing, garbage output).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { cleanupSandboxes, expectNoSecrets, fake, JARVIS, sandbox, type RunResult, type Sandbox } from "./helpers.ts";
import { cleanupScratch, modeOf, scratch } from "./monitor-helpers.ts";

const H = 3_600_000;
const HOST = os.hostname();
const SECRETS = [fake.anthropicKey, fake.anthropicToken, fake.openaiKey];

interface NtfyRequest {
  method: string;
  path: string;
  title: string | null;
  priority: string | null;
  body: string;
}
const ntfyRequests: NtfyRequest[] = [];
let ntfyStatus = 200;
let server: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      ntfyRequests.push({ method: req.method, path: url.pathname, title: req.headers.get("title"), priority: req.headers.get("priority"), body: await req.text() });
      return new Response("{}", { status: ntfyStatus });
    },
  });
});
afterAll(() => {
  server.stop(true);
  cleanupSandboxes();
  cleanupScratch();
});

type Fixture = "ok" | "expiring" | "expired" | "missing";

/** A sandbox in one of the four auth states; every state also holds secrets that must never be printed or sent. */
function fixture(kind: Fixture): { sb: Sandbox; env: Record<string, string> } {
  const sb = sandbox();
  sb.write(path.join(sb.state, ".env"), `OPENAI_API_KEY=${fake.openaiKey}\n`);
  const env: Record<string, string> = {};
  if (kind === "ok") env.ANTHROPIC_API_KEY = fake.anthropicKey;
  if (kind === "expiring" || kind === "expired") {
    const expires = Date.now() + (kind === "expiring" ? 2 * H : -H);
    sb.writeStore({ version: 1, profiles: { "anthropic:t": { type: "token", provider: "anthropic", token: fake.anthropicToken, expires } } });
  }
  return { sb, env };
}

/** A notify command that appends `<stdin>|<status>|<env message>` to a file outside HOME. */
function notifier(): { command: string; file: string; entries(): string[] } {
  const file = path.join(scratch(), "notifications.log");
  return {
    file,
    command: `{ cat; printf '|%s|%s\\n' "$JARVIS_MONITOR_STATUS" "$JARVIS_MONITOR_MESSAGE"; } >> '${file}'`,
    entries: () => (fs.existsSync(file) ? parseEntries(fs.readFileSync(file, "utf8")) : []),
  };
}

/** Each entry is `<message>\n|<status>|<message>\n`; return `<status>|<message>` after checking both copies agree. */
function parseEntries(text: string): string[] {
  const out: string[] = [];
  const lines = text.replace(/\n$/, "").split("\n");
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [, status, envMessage] = lines[i + 1]!.split("|");
    expect(envMessage).toBe(lines[i]!);
    out.push(`${status}|${lines[i]}`);
  }
  return out;
}

const statePath = (sb: Sandbox) => path.join(sb.state, "monitor", "state.json");
const readState = (sb: Sandbox) => JSON.parse(fs.readFileSync(statePath(sb), "utf8"));
function setLastNotified(sb: Sandbox, at: number | null): void {
  fs.writeFileSync(statePath(sb), JSON.stringify({ ...readState(sb), lastNotifiedAt: at }));
}

async function monitor(sb: Sandbox, args: string[], env: Record<string, string> = {}): Promise<RunResult & { doc?: any }> {
  const r: RunResult & { doc?: any } = await sb.run(["monitor", "run", ...args], { env });
  expectNoSecrets(r, SECRETS);
  if (args.includes("--json") && r.stdout.trim().startsWith("{")) {
    expect(r.stdout).toBe(JSON.stringify(JSON.parse(r.stdout), null, 2) + "\n");
    r.doc = JSON.parse(r.stdout);
  }
  return r;
}

describe("outcomes and exit codes", () => {
  test("healthy: `ok`, exit 0, no notification; state.json (0600, dir 0700) records the run", async () => {
    const { sb, env } = fixture("ok");
    const n = notifier();
    const before = Date.now();
    const r = await monitor(sb, ["--notify-command", n.command], env);
    expect(r).toMatchObject({ code: 0, stdout: "ok\n", stderr: "" });
    expect(n.entries()).toEqual([]);
    const st = readState(sb);
    expect(Object.keys(st)).toEqual(["lastRunAt", "lastOutcome", "lastNotifiedAt"]);
    expect(st.lastOutcome).toBe("ok");
    expect(st.lastNotifiedAt).toBeNull();
    expect(st.lastRunAt).toBeGreaterThanOrEqual(before);
    expect(modeOf(statePath(sb))).toBe(0o600);
    expect(modeOf(path.dirname(statePath(sb)))).toBe(0o700);
    const j = await monitor(sb, ["--json"], env);
    expect(j.code).toBe(0);
    expect(j.doc).toEqual({ outcome: "ok", exitCode: 0, checkExitCode: 0, items: [], notified: false });
  });

  test("expiring: exit 2, one notification with the spec's message", async () => {
    const { sb, env } = fixture("expiring");
    const n = notifier();
    const r = await monitor(sb, ["--notify-command", n.command], env);
    expect(r).toMatchObject({ code: 2, stdout: "expiring: anthropic:t expiring\n", stderr: "" });
    expect(n.entries()).toEqual([`expiring|jarvis auth on ${HOST}: EXPIRING — anthropic:t expiring — run: jarvis models status`]);
    expect(readState(sb).lastOutcome).toBe("expiring");
    expectNoSecrets(fs.readFileSync(n.file, "utf8"), SECRETS);
  });

  test("expired: exit 1, EXPIRED/MISSING; --json document", async () => {
    const { sb, env } = fixture("expired");
    const n = notifier();
    const r = await monitor(sb, ["--json", "--notify-command", n.command], env);
    expect(r.code).toBe(1);
    expect(r.doc).toEqual({ outcome: "failed", exitCode: 1, checkExitCode: 1, items: ["anthropic:t expired", "anthropic no_credentials"], notified: true });
    expect(n.entries()).toEqual([`failed|jarvis auth on ${HOST}: EXPIRED/MISSING — anthropic:t expired, anthropic no_credentials — run: jarvis models status`]);
  });

  test("missing credentials: exit 1, provider item", async () => {
    const { sb, env } = fixture("missing");
    const r = await monitor(sb, [], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("failed: anthropic no_credentials\n");
    // No channel configured: the result is printed, and the missing channel is said on stderr.
    expect(r.stderr).toContain("no notification channel configured");
    expect(readState(sb).lastNotifiedAt).toBeNull();
  });
});

describe("at most one notification per hour", () => {
  test("second run within the hour is silent; an hour after the last one it notifies again", async () => {
    const { sb, env } = fixture("expired");
    const n = notifier();
    const args = ["--json", "--notify-command", n.command];
    const first = await monitor(sb, args, env);
    expect(first.doc.notified).toBe(true);
    const notifiedAt = readState(sb).lastNotifiedAt;
    expect(typeof notifiedAt).toBe("number");

    const second = await monitor(sb, args, env);
    expect(second.code).toBe(1);
    expect(second.doc.notified).toBe(false);
    expect(readState(sb).lastNotifiedAt).toBe(notifiedAt);
    expect(n.entries().length).toBe(1);

    setLastNotified(sb, Date.now() - H + 60_000); // 59 minutes ago
    expect((await monitor(sb, args, env)).doc.notified).toBe(false);
    expect(n.entries().length).toBe(1);

    setLastNotified(sb, Date.now() - H - 1000); // just over an hour ago
    const third = await monitor(sb, args, env);
    expect(third.doc.notified).toBe(true);
    expect(n.entries().length).toBe(2);
    expect(readState(sb).lastNotifiedAt).toBeGreaterThan(notifiedAt);
  });

  test("a healthy run never notifies, even when the last notification is old", async () => {
    const { sb, env } = fixture("ok");
    const n = notifier();
    expect((await monitor(sb, ["--notify-command", n.command], env)).code).toBe(0);
    setLastNotified(sb, Date.now() - 10 * H);
    expect((await monitor(sb, ["--notify-command", n.command], env)).code).toBe(0);
    expect(n.entries()).toEqual([]);
  });

  test("a failed notification does not count: lastNotifiedAt stays, the next run tries again", async () => {
    const { sb, env } = fixture("expired");
    const bad = await monitor(sb, ["--json", "--notify-command", "echo noise-from-notifier; exit 7"], env);
    expect(bad.code).toBe(1);
    // The command's stdout goes to stderr: stdout stays the one JSON document (checked by monitor()).
    expect(bad.stderr).toContain("noise-from-notifier");
    expect(bad.doc).toMatchObject({ outcome: "failed", notified: false, notifyError: "notify command exited with 7" });
    expect(bad.stderr).toContain("notification failed: notify command exited with 7");
    expect(readState(sb).lastNotifiedAt).toBeNull();
    const n = notifier();
    expect((await monitor(sb, ["--json", "--notify-command", n.command], env)).doc.notified).toBe(true);
    expect(n.entries().length).toBe(1);
  });
});

describe("settings: flags override $STATE/monitor/config.json", () => {
  test("warnWithin from config.json, overridden by --warn-within", async () => {
    const { sb, env } = fixture("expiring"); // expires in 2 h
    expect((await monitor(sb, ["--warn-within", "1h"], env)).stdout).toBe("ok\n");
    sb.write(path.join(sb.state, "monitor", "config.json"), { warnWithin: "90m" });
    expect((await monitor(sb, [], env)).stdout).toBe("ok\n");
    sb.write(path.join(sb.state, "monitor", "config.json"), { warnWithin: "3" });
    const r = await monitor(sb, [], env);
    expect(r.code).toBe(2);
    expect((await monitor(sb, ["--warn-within", "1"], env)).code).toBe(0);
  });

  test("notifyCommand from config.json; the flag replaces it", async () => {
    const { sb, env } = fixture("expired");
    const fromConfig = notifier();
    const fromFlag = notifier();
    sb.write(path.join(sb.state, "monitor", "config.json"), { notifyCommand: fromConfig.command });
    expect((await monitor(sb, [], env)).code).toBe(1);
    expect(fromConfig.entries().length).toBe(1);
    setLastNotified(sb, null);
    expect((await monitor(sb, ["--notify-command", fromFlag.command], env)).code).toBe(1);
    expect(fromConfig.entries().length).toBe(1);
    expect(fromFlag.entries().length).toBe(1);
  });

  test("a broken config.json is an error naming the file (exit 1, JSON error document)", async () => {
    const { sb, env } = fixture("ok");
    const file = sb.write(path.join(sb.state, "monitor", "config.json"), "{nope");
    const r = await monitor(sb, ["--json"], env);
    expect(r.code).toBe(1);
    expect(r.doc).toEqual({ ok: false, error: { code: "monitor_config_invalid", message: `${file} is not valid JSON; fix it or re-run jarvis monitor install.` } });
  });

  test.each([
    [["--warn-within", "0"], /invalid duration: 0/],
    [["--warn-within", "1h 30m"], /invalid duration: 1h 30m/],
    [["--ntfy", "not-a-url"], /--ntfy must be an http\(s\) URL/],
    [["--systemd"], /Unknown option/],
  ])("usage error %j → exit 64, no JSON, nothing written", async (args, msg) => {
    const { sb, env } = fixture("ok");
    const r = await monitor(sb, ["--json", ...(args as string[])], env);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(msg as RegExp);
    expect(fs.existsSync(path.join(sb.state, "monitor"))).toBe(false);
  });
});

describe("--ntfy", () => {
  test("POST with Title and Priority (high for failed, default for expiring); message as body", async () => {
    ntfyStatus = 200;
    ntfyRequests.length = 0;
    const url = `http://127.0.0.1:${server.port}/jarvis-alerts`;
    const failed = fixture("expired");
    expect((await monitor(failed.sb, ["--ntfy", url], failed.env)).code).toBe(1);
    const expiring = fixture("expiring");
    expect((await monitor(expiring.sb, ["--ntfy", url], expiring.env)).code).toBe(2);
    expect(ntfyRequests).toEqual([
      { method: "POST", path: "/jarvis-alerts", title: "jarvis auth", priority: "high", body: `jarvis auth on ${HOST}: EXPIRED/MISSING — anthropic:t expired, anthropic no_credentials — run: jarvis models status` },
      { method: "POST", path: "/jarvis-alerts", title: "jarvis auth", priority: "default", body: `jarvis auth on ${HOST}: EXPIRING — anthropic:t expiring — run: jarvis models status` },
    ]);
    for (const q of ntfyRequests) expectNoSecrets(q.body, SECRETS);
  });

  test("an HTTP error is a failed notification (no retry, lastNotifiedAt kept)", async () => {
    ntfyStatus = 500;
    ntfyRequests.length = 0;
    const { sb, env } = fixture("expired");
    const r = await monitor(sb, ["--json", "--ntfy", `http://127.0.0.1:${server.port}/t`], env);
    ntfyStatus = 200;
    expect(r.code).toBe(1);
    expect(r.doc).toMatchObject({ notified: false, notifyError: "ntfy: HTTP 500" });
    expect(ntfyRequests.length).toBe(1);
    expect(readState(sb).lastNotifiedAt).toBeNull();
  });

  test("both channels: notified when one delivers; the other's failure is reported", async () => {
    ntfyStatus = 200;
    const { sb, env } = fixture("expired");
    const r = await monitor(sb, ["--json", "--notify-command", "exit 4", "--ntfy", `http://127.0.0.1:${server.port}/t`], env);
    expect(r.doc).toMatchObject({ outcome: "failed", notified: true, notifyError: "notify command exited with 4" });
  });
});

/**
 * Run a copy of the binary as `monitor run`, and swap the copy on disk while it is blocked reading its config.json
 * (a FIFO): jarvis has already taken its own path, so its child check then meets whatever `swap` left there.
 */
async function runWithSwappedBinary(sb: Sandbox, args: string[], swap: (bin: string) => void): Promise<RunResult & { doc?: any }> {
  const bin = path.join(scratch(), "jarvis");
  fs.copyFileSync(JARVIS, bin);
  fs.chmodSync(bin, 0o755);
  const fifo = path.join(sb.state, "monitor", "config.json");
  fs.mkdirSync(path.dirname(fifo), { recursive: true, mode: 0o700 });
  expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
  const proc = Bun.spawn([bin, "monitor", "run", ...args], { env: sb.env, cwd: "/", stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const out = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  let fd: number | undefined;
  const deadline = Date.now() + 15_000;
  while (fd === undefined) {
    try {
      fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      // ENXIO until jarvis opens the FIFO for reading
      if ((e as { code?: string }).code !== "ENXIO" || Date.now() > deadline) {
        proc.kill();
        throw e;
      }
      await Bun.sleep(10);
    }
  }
  swap(bin);
  fs.writeSync(fd, "{}\n");
  fs.closeSync(fd);
  const [stdout, stderr, code] = await out;
  fs.rmSync(fifo);
  const r: RunResult & { doc?: any } = { code, stdout, stderr };
  expectNoSecrets(r, SECRETS);
  if (stdout.trim().startsWith("{")) r.doc = JSON.parse(stdout);
  return r;
}

describe("fail closed: a broken check is an alert (check_failed, exit 1)", () => {
  test("unreadable jarvis.json: the child's error document gives the reason", async () => {
    const { sb, env } = fixture("ok");
    sb.writeConfig("{ agents: ");
    const n = notifier();
    const r = await monitor(sb, ["--json", "--notify-command", n.command], env);
    expect(r.code).toBe(1);
    expect(r.doc.outcome).toBe("check_failed");
    expect(r.doc.checkExitCode).toBe(1);
    expect(r.doc.items).toEqual([]);
    expect(r.doc.reason).toContain(sb.configPath);
    expect(r.doc.notified).toBe(true);
    expect(n.entries()).toEqual([`check_failed|jarvis auth on ${HOST}: CHECK FAILED — ${r.doc.reason} — run: jarvis models status`]);
    const line = await monitor(sb, [], env);
    expect(line.stdout).toBe(`check failed: ${r.doc.reason}\n`);
  });

  test("the binary is gone when the check starts: spawn error", async () => {
    const { sb } = fixture("ok");
    const n = notifier();
    let gone = "";
    const r = await runWithSwappedBinary(sb, ["--json", "--notify-command", n.command], (bin) => {
      gone = bin;
      fs.rmSync(bin);
    });
    expect(r.code).toBe(1);
    expect(r.doc).toEqual({ outcome: "check_failed", exitCode: 1, checkExitCode: null, items: [], reason: `could not run ${gone}: ENOENT`, notified: true });
    expect(n.entries()).toEqual([`check_failed|jarvis auth on ${HOST}: CHECK FAILED — could not run ${gone}: ENOENT — run: jarvis models status`]);
  });

  test.each([
    ["crashes with exit 3", "echo '{}'; exit 3", 3, "models status --check exited with 3"],
    ["prints something that is not a status report", "echo 'all good'; exit 0", 0, "models status --check (exit 0) did not print a status report"],
    ["dies by a signal", "kill -SEGV $$", null, "models status --check was killed by SIGSEGV"],
  ])("the binary %s", async (_n, body, checkExitCode, reason) => {
    const { sb } = fixture("ok");
    const r = await runWithSwappedBinary(sb, ["--json"], (bin) => {
      fs.rmSync(bin);
      fs.writeFileSync(bin, `#!/bin/sh\n${body}\n`);
      fs.chmodSync(bin, 0o755);
    });
    expect(r.code).toBe(1);
    expect(r.doc).toMatchObject({ outcome: "check_failed", exitCode: 1, checkExitCode, reason });
    expect(readState(sb).lastOutcome).toBe("check_failed");
  });
});
