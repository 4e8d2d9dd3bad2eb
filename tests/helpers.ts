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

/** Remove every sandbox made by this test file (call from afterAll). */
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
