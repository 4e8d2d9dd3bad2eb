/**
 * End-to-end test helpers: run the compiled `dist/jarvis` as cron would (scrubbed env, temp HOME, cwd `/`),
 * write fixture files, and fail when any captured output contains a whole fixture secret.
 */
import { expect } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dir, "..");
export const JARVIS = path.join(ROOT, "dist", "jarvis");

if (!fs.existsSync(JARVIS)) {
  throw new Error(`${JARVIS} is missing: run \`bun run build\` before the tests (the README's test command does).`);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Sandbox {
  home: string;
  state: string;
  agentDir: string;
  storePath: string;
  configPath: string;
  /** Base env for runs: HOME and a PATH, nothing else (like `env -i`). */
  env: Record<string, string>;
  run(args: string[], opts?: { env?: Record<string, string | undefined>; cwd?: string; stdin?: string }): Promise<RunResult>;
  write(rel: string, content: string | object, mode?: number): string;
  writeStore(doc: unknown): void;
  writeConfig(doc: unknown): void;
  readStore(): any;
}

const created: string[] = [];

/** A fresh temp HOME with the default state dir layout paths (nothing is created but the home itself). */
export function sandbox(): Sandbox {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "jarvis-test-"));
  created.push(home);
  const state = path.join(home, ".jarvis");
  const agentDir = path.join(state, "agents", "main", "agent");
  const storePath = path.join(agentDir, "auth-profiles.json");
  const configPath = path.join(state, "jarvis.json");
  const env = { HOME: home, PATH: "/usr/bin:/bin" };
  const sb: Sandbox = {
    home,
    state,
    agentDir,
    storePath,
    configPath,
    env,
    run: (args, opts = {}) => runJarvis(args, { env: { ...env, ...opts.env }, cwd: opts.cwd ?? "/", stdin: opts.stdin }),
    write(rel, content, mode = 0o600) {
      const p = path.isAbsolute(rel) ? rel : path.join(home, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
      fs.writeFileSync(p, typeof content === "string" ? content : JSON.stringify(content, null, 2), { mode });
      return p;
    },
    writeStore: (doc) => void sb.write(storePath, typeof doc === "string" ? doc : (doc as object)),
    writeConfig: (doc) => void sb.write(configPath, typeof doc === "string" ? doc : (doc as object)),
    readStore: () => JSON.parse(fs.readFileSync(storePath, "utf8")),
  };
  return sb;
}

/** A temp dir outside every sandbox HOME, removed with the sandboxes by `cleanupSandboxes`. */
export function tempDir(prefix = "jarvis-scratch-"): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(d);
  return d;
}

/** Remove every sandbox and temp dir made by this test file (call from afterAll). */
export function cleanupSandboxes(): void {
  for (const d of created.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/**
 * Run dist/jarvis with exactly `env` (undefined values dropped), stdin closed unless given.
 * @returns exit code and captured output
 */
export async function runJarvis(args: string[], opts: { env: Record<string, string | undefined>; cwd?: string; stdin?: string }): Promise<RunResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
  const proc = Bun.spawn([JARVIS, ...args], {
    env,
    cwd: opts.cwd ?? "/",
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/**
 * Fail when any secret appears whole in any captured text (02 §6 / D9). Pass every fixture secret a test used.
 */
export function expectNoSecrets(result: RunResult | string, secrets: readonly string[]): void {
  const texts = typeof result === "string" ? [result] : [result.stdout, result.stderr];
  for (const secret of secrets) {
    for (const t of texts) {
      if (t.includes(secret)) throw new Error(`a fixture secret (${secret.slice(0, 6)}…, ${secret.length} chars) appeared whole in output`);
    }
  }
}

/** Parse stdout as exactly one JSON document. */
export function json(result: RunResult): any {
  expect(result.stdout.trim().length).toBeGreaterThan(0);
  return JSON.parse(result.stdout);
}

/** Fake secrets that look real to jarvis's patterns but are obviously test data. */
export const fake = {
  anthropicKey: "sk-ant-api03-" + "TESTFAKE".repeat(10) + "abcd",
  anthropicToken: "sk-ant-oat01-" + "TESTFAKE".repeat(10) + "wxyz",
  openaiKey: "sk-proj-TESTFAKE-openai-0123456789abcdef",
  openrouterKey: "sk-or-v1-TESTFAKE0123456789abcdefXYZW",
  groq: (n: number) => `gsk_TESTFAKE_${String(n).padStart(4, "0")}_groqkey`,
};

/** One step of a pseudo-terminal conversation: wait for `expect` in the output (after the previous match), then
 * wait `delayMs`, then type `send`. */
export interface PtyStep {
  expect?: string | RegExp;
  send?: string;
  delayMs?: number;
}

export interface PtyResult extends RunResult {
  /** Everything the terminal showed (stdout and stderr of jarvis share the pty). */
  output: string;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Run dist/jarvis under a real pseudo-terminal (util-linux `script -qfec … /dev/null`), so stdin and stdout are TTYs,
 * and drive it like a user: each step waits for text, then types. Fails (throws) when an expected text does not
 * show up within `timeoutMs`; the process is then killed. `redirect` is appended to the shell command as is
 * (e.g. `| cat` makes stdout a pipe while stdin stays a terminal).
 * @returns exit code of jarvis and the whole terminal transcript (`stdout` = `output`, `stderr` = "")
 */
export async function runPty(
  args: string[],
  opts: {
    env: Record<string, string | undefined>;
    cwd?: string;
    steps?: PtyStep[];
    timeoutMs?: number;
    redirect?: string;
    /** Give the pty a real size (`stty cols/rows`); a 0×0 pty makes full-screen prompts wrap every character. */
    size?: { cols: number; rows: number };
  },
): Promise<PtyResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
  const stty = opts.size ? `stty cols ${opts.size.cols} rows ${opts.size.rows} 2>/dev/null; ` : "";
  const cmd = stty + [JARVIS, ...args].map(shellQuote).join(" ") + (opts.redirect ? ` ${opts.redirect}` : "");
  const proc = Bun.spawn(["script", "-qfec", cmd, "/dev/null"], {
    env: { TERM: "xterm", ...env },
    cwd: opts.cwd ?? "/",
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timeoutMs = opts.timeoutMs ?? 15_000;
  let output = "";
  let waiter: (() => void) | undefined;
  const reader = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      output += decoder.decode(chunk, { stream: true });
      waiter?.();
    }
  })();
  const killTimer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  let from = 0;
  try {
    for (const step of opts.steps ?? []) {
      if (step.expect !== undefined) {
        const want = step.expect;
        const found = () => {
          const rest = output.slice(from);
          const idx = typeof want === "string" ? rest.indexOf(want) : rest.search(want);
          if (idx < 0) return false;
          from += idx + 1;
          return true;
        };
        while (!found()) {
          const exited = await Promise.race([
            new Promise<boolean>((resolve) => {
              waiter = () => resolve(false);
            }),
            proc.exited.then(() => true),
          ]);
          waiter = undefined;
          if (exited) {
            await reader;
            if (found()) break;
            throw new Error(`pty: jarvis exited before showing ${String(want)}; output:\n${output}`);
          }
        }
      }
      if (step.delayMs) await Bun.sleep(step.delayMs);
      if (step.send !== undefined) {
        proc.stdin.write(step.send);
        await proc.stdin.flush();
      }
    }
    const code = await proc.exited;
    await reader;
    return { code, stdout: output, stderr: "", output };
  } finally {
    clearTimeout(killTimer);
    try {
      proc.stdin.end();
    } catch {
      // already closed
    }
    if (proc.exitCode === null) proc.kill("SIGKILL");
  }
}

/** What `snapshotTree` records per path: kind, permission bits, mtime (ms, high resolution) and the bytes of files. */
export interface TreeEntry {
  kind: "file" | "dir" | "other";
  mode: number;
  mtimeMs: number;
  bytes?: string;
}

/**
 * Every file and directory under `root` (root included, as ""), keyed by relative path; an absent root gives an
 * empty map. Compare two snapshots with `expect(after).toEqual(before)` to prove "nothing written or created".
 */
export function snapshotTree(root: string): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  const walk = (abs: string, rel: string) => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch {
      return;
    }
    const kind = st.isFile() ? "file" : st.isDirectory() ? "dir" : "other";
    const entry: TreeEntry = { kind, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
    if (kind === "file") entry.bytes = fs.readFileSync(abs).toString("base64");
    out.set(rel, entry);
    if (kind === "dir") for (const name of fs.readdirSync(abs).sort()) walk(path.join(abs, name), rel ? `${rel}/${name}` : name);
  };
  walk(root, "");
  return out;
}

/** Set the mtime (and atime) of `root` and everything under it an hour into the past, so any rewrite shows. */
export function backdateTree(root: string): void {
  const t = (Date.now() - 3_600_000) / 1000;
  const walk = (abs: string) => {
    const st = fs.lstatSync(abs);
    if (st.isDirectory()) for (const name of fs.readdirSync(abs)) walk(path.join(abs, name));
    fs.utimesSync(abs, t, t);
  };
  if (fs.existsSync(root)) walk(root);
}

/**
 * Write a `#!/bin/sh` script (e.g. an exec secret resolver) under the sandbox home and chmod it explicitly, so the
 * umask cannot change the mode the test means.
 * @returns the absolute path
 */
export function writeScript(sb: Sandbox, rel: string, body: string, mode = 0o700): string {
  const p = sb.write(rel, `#!/bin/sh\n${body}\n`, mode);
  fs.chmodSync(p, mode);
  return p;
}

/** Every whole fake secret of `fake` (each `fake.groq(n)` included), for `guardSecrets`. */
export const FAKE_SECRET_PATTERNS: readonly (string | RegExp)[] = [
  fake.anthropicKey,
  fake.anthropicToken,
  fake.openaiKey,
  fake.openrouterKey,
  /gsk_TESTFAKE_\d{4}_groqkey/,
];

/**
 * Make every `sb.run` of this sandbox fail when its output contains a secret whole (D9): a string anywhere, or a
 * match of a pattern.
 */
export function guardSecrets(sb: Sandbox, secrets: readonly (string | RegExp)[] = FAKE_SECRET_PATTERNS): Sandbox {
  const run = sb.run;
  sb.run = async (args, opts) => {
    const r = await run(args, opts);
    expectNoSecrets(r, secrets.filter((x): x is string => typeof x === "string"));
    for (const re of secrets) {
      if (typeof re === "string") continue;
      for (const t of [r.stdout, r.stderr]) {
        if (re.test(t)) throw new Error(`a fixture secret matching ${re} appeared whole in output`);
      }
    }
    return r;
  };
  return sb;
}

/** A running dist/jarvis that a test talks to while it runs (see `startJarvis`). */
export interface LiveJarvis {
  proc: ReturnType<typeof Bun.spawn>;
  /** Everything shown so far: stderr for a piped run; the whole terminal (stdout + stderr) under a pty. */
  output(): string;
  /** stdout so far (piped runs; "" under a pty, where it is part of `output`). */
  stdout(): string;
  /**
   * Wait until `re` matches `output()` at or after offset `from` (default 0).
   * @throws when the process exits first or `timeoutMs` (default 10 s) passes
   */
  waitFor(re: RegExp, opts?: { from?: number; timeoutMs?: number }): Promise<RegExpExecArray>;
  /** Type into stdin (the terminal under a pty). */
  write(text: string): Promise<void>;
  /** Exit code of jarvis (under a pty: of `script -e`, which passes jarvis's code on). */
  exited: Promise<number>;
  /** Everything shown, once the process has exited and its output is drained. */
  finished(): Promise<{ code: number; output: string; stdout: string }>;
}

/**
 * Start dist/jarvis with exactly `env` and keep it running: with `pty: true` under a real pseudo-terminal
 * (util-linux `script -qfec … /dev/null`, stdin and stdout are TTYs), else with piped stdout/stderr and stdin
 * closed (`stdin: "ignore"`) or open (`"pipe"`). Killed by `killLiveJarvis()` if still running.
 */
export function startJarvis(args: string[], opts: { env: Record<string, string | undefined>; pty?: boolean; stdin?: "ignore" | "pipe"; cwd?: string }): LiveJarvis {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
  const proc = opts.pty
    ? Bun.spawn(["script", "-qfec", [JARVIS, ...args].map(shellQuote).join(" "), "/dev/null"], { env: { TERM: "xterm", ...env }, cwd: opts.cwd ?? "/", stdin: "pipe", stdout: "pipe", stderr: "pipe" })
    : Bun.spawn([JARVIS, ...args], { env, cwd: opts.cwd ?? "/", stdin: opts.stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  live.add(proc);
  let out = "";
  let std = "";
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>, into: (s: string) => void) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      into(dec.decode(chunk, { stream: true }));
      for (const w of waiters) w();
    }
  };
  const drained = Promise.all([
    pump(proc.stdout as ReadableStream<Uint8Array>, (s) => (opts.pty ? (out += s) : (std += s))),
    pump(proc.stderr as ReadableStream<Uint8Array>, (s) => (out += s)),
  ]);
  const exited = proc.exited.then(async (code) => {
    await drained;
    live.delete(proc);
    for (const w of waiters) w();
    return code;
  });
  return {
    proc,
    output: () => out,
    stdout: () => std,
    exited,
    finished: async () => ({ code: await exited, output: out, stdout: std }),
    async write(text) {
      const sink = proc.stdin as import("bun").FileSink;
      sink.write(text);
      await sink.flush();
    },
    waitFor(re, o = {}) {
      const timeoutMs = o.timeoutMs ?? 10_000;
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out.slice(o.from ?? 0));
          if (m) return done(() => resolve(m));
          if (proc.exitCode !== null && !live.has(proc)) done(() => reject(new Error(`jarvis exited (${proc.exitCode}) before showing ${re}; output:\n${out}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no ${re} within ${timeoutMs} ms; output:\n${out}`))), timeoutMs);
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

const live = new Set<ReturnType<typeof Bun.spawn>>();

/** SIGKILL every `startJarvis` process that is still running (call from afterEach / afterAll). */
export async function killLiveJarvis(): Promise<void> {
  for (const p of [...live]) {
    if (p.exitCode === null) p.kill("SIGKILL");
    await p.exited;
  }
  live.clear();
}
