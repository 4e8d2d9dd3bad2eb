/**
 * Shared pieces of the `models status` end-to-end tests: a read-only guard around every run (spec README D3,
 * 03 §3: no byte, mtime, file, dir or lock may change), fixture writers and time helpers.
 */
import { expect } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expectNoSecrets, tempDir, type RunResult, type Sandbox } from "./helpers.ts";

export const MIN = 60_000;
export const H = 3_600_000;
export const DAY = 86_400_000;

interface Entry {
  kind: "file" | "dir" | "link" | "other";
  mode: number;
  mtimeMs: number;
  size: number;
  sha?: string;
}

/** Every path under `root` with its type, mode, mtime, size and content hash. */
export function snapshotTree(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (p: string) => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    const kind = st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "link" : "other";
    const e: Entry = { kind, mode: st.mode, mtimeMs: st.mtimeMs, size: st.size };
    if (kind === "file" && st.mode & 0o444) {
      try {
        e.sha = createHash("sha256").update(fs.readFileSync(p)).digest("hex");
      } catch {
        // unreadable fixture (chmod 000 as non-root): mode, size and mtime still guard it
      }
    }
    out.set(p, e);
    if (kind === "dir") for (const name of fs.readdirSync(p)) walk(path.join(p, name));
  };
  walk(root);
  return out;
}

/** Fail with the first difference between two snapshots (new, removed or changed path). */
export function expectSameTree(before: Map<string, Entry>, after: Map<string, Entry>): void {
  for (const p of after.keys()) if (!before.has(p)) throw new Error(`read-only violated: ${p} was created`);
  for (const p of before.keys()) if (!after.has(p)) throw new Error(`read-only violated: ${p} was removed`);
  for (const [p, e] of after) expect({ path: p, ...e }).toEqual({ path: p, ...before.get(p)! });
}

export interface StatusRun extends RunResult {
  /** Parsed stdout when it is JSON, else undefined. */
  doc?: any;
}

/**
 * Run `jarvis <args>` in the sandbox and assert that nothing under HOME (and `extraRoots`) changed, and that no
 * fixture secret appears whole in stdout or stderr.
 */
export async function runRO(
  sb: Sandbox,
  args: string[],
  opts: { env?: Record<string, string | undefined>; cwd?: string; secrets?: readonly string[]; extraRoots?: string[] } = {},
): Promise<StatusRun> {
  const roots = [sb.home, ...(opts.extraRoots ?? [])];
  const before = roots.map(snapshotTree);
  const r: StatusRun = await sb.run(args, { env: opts.env, cwd: opts.cwd });
  roots.forEach((root, i) => expectSameTree(before[i]!, snapshotTree(root)));
  expectNoSecrets(r, opts.secrets ?? []);
  const out = r.stdout.trim();
  if (out.startsWith("{")) r.doc = JSON.parse(r.stdout);
  return r;
}

/** The `auth.providers[]` entry of provider `id` (undefined when not listed). */
export function providerOf(doc: any, id: string): any {
  return doc.auth.providers.find((p: any) => p.provider === id);
}

/** The `auth.oauth.profiles[]` entry of a profile id. */
export function healthOf(doc: any, id: string): any {
  return doc.auth.oauth.profiles.find((p: any) => p.profileId === id);
}

/** A stdout line that starts with `prefix` (fails when there is none). */
export function lineStarting(text: string, prefix: string): string {
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  if (line === undefined) throw new Error(`no line starting with ${JSON.stringify(prefix)} in:\n${text}`);
  return line;
}

/** A temp dir outside every sandbox HOME (for cwd `.env` files, shell scripts, markers); `cleanupSandboxes` removes it. */
export function scratchDir(): string {
  return tempDir();
}

/** Write an executable `#!/bin/sh` script. */
export function writeScript(dir: string, name: string, body: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, `#!/bin/sh\n${body}\n`);
  fs.chmodSync(p, 0o755);
  return p;
}

/** A fake secret of `n` chars that ends with `tail` (so its mask is predictable). */
export function fakeSecret(prefix: string, n: number, tail: string): string {
  const body = "TESTFAKE".repeat(Math.ceil(n / 8)).slice(0, n - prefix.length - tail.length);
  return prefix + body + tail;
}
