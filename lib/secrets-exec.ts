/**
 * The `exec` secret provider, protocol v1 (spec 06 §4.3): command checks before spawning, batching by
 * `maxBatchBytes`, the child process (no shell, empty env + `passEnv` + `env`, timers and output cap) and the
 * response parser.
 *
 * Errors are values naming the provider, never throws. No message ever contains a resolved value, the resolver's
 * stderr, its free-text error messages or a parser error (any of them can echo secret bytes).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { isPlainObject } from "./_utils.ts";
import { currentUid, insideTrustedDirs, isAbsoluteSecretPath, isTrustedCommandOwner, modeOctal } from "./secret-paths.ts";
import type { ExecProviderConfig, Outcome } from "./secrets.ts";

/**
 * Command checks of 06 §4.3, before anything is spawned: absolute, symlink only with `allowSymlinkCommand` (then the
 * target is checked), regular file executable by the current user, not group/world-writable and owned by the
 * current user or root (both skipped with `allowInsecurePath`), real path inside `trustedDirs` when configured.
 * @returns the real path of the command (used for spawning and as cwd), or an error naming provider and path
 */
export async function checkExecCommand(alias: string, provider: ExecProviderConfig): Promise<Outcome<string>> {
  const command = provider.command;
  const bad = (p: string, what: string): Outcome<string> => ({ ok: false, error: `Exec provider "${alias}" command ${p} ${what}` });
  if (!isAbsoluteSecretPath(command)) return bad(command, "must be an absolute path.");
  let st: fs.Stats;
  let real = command;
  try {
    st = await fsp.lstat(command);
    if (st.isSymbolicLink()) {
      if (!provider.allowSymlinkCommand) {
        return bad(command, "is a symlink; set allowSymlinkCommand: true to allow it (its target is checked).");
      }
      real = await fsp.realpath(command);
      st = await fsp.stat(real);
    }
  } catch {
    return bad(command, "does not exist or is not accessible.");
  }
  if (!st.isFile()) return bad(real, "must be a regular file.");
  try {
    await fsp.access(real, fs.constants.X_OK);
  } catch {
    return bad(real, "is not executable by the current user.");
  }
  if (!provider.allowInsecurePath) {
    if (process.platform === "win32") return bad(real, "ACL cannot be verified; set allowInsecurePath: true only for a trusted path.");
    if ((st.mode & 0o022) !== 0) return bad(real, `must not be group- or world-writable (${modeOctal(st.mode)}).`);
    const uid = currentUid();
    if (uid !== undefined && !isTrustedCommandOwner(st.uid, uid)) return bad(real, `must be owned by the current user (uid=${uid}) or root.`);
  }
  if (provider.trustedDirs !== undefined) {
    if (provider.trustedDirs.some((d) => !isAbsoluteSecretPath(d))) {
      return { ok: false, error: `secrets.providers.${alias}.trustedDirs entries must be absolute paths.` };
    }
    if (!(await insideTrustedDirs(real, provider.trustedDirs))) return bad(real, "is outside trustedDirs.");
  }
  return { ok: true, value: real };
}

/**
 * Split ids into protocol v1 requests of at most `maxBatchBytes` bytes each (request = JSON document + `\n`, UTF-8).
 * @returns the batches in input order, and the ids whose single-id request alone is over the limit
 */
export function planExecBatches(alias: string, ids: string[], maxBatchBytes: number): { batches: string[][]; oversized: string[] } {
  // Sizes are summed instead of re-serialising each candidate batch: JSON.stringify of an array is `[a,b,…]`.
  const base = Buffer.byteLength(execRequest(alias, []));
  const batches: string[][] = [];
  const oversized: string[] = [];
  let current: string[] = [];
  let size = base;
  for (const id of ids) {
    const cost = Buffer.byteLength(JSON.stringify(id));
    if (base + cost > maxBatchBytes) {
      oversized.push(id);
      continue;
    }
    const added = cost + (current.length > 0 ? 1 : 0);
    if (size + added > maxBatchBytes) {
      batches.push(current);
      current = [id];
      size = base + cost;
    } else {
      current.push(id);
      size += added;
    }
  }
  if (current.length > 0) batches.push(current);
  return { batches, oversized };
}

function execRequest(alias: string, ids: string[]): string {
  return `${JSON.stringify({ protocolVersion: 1, provider: alias, ids })}\n`;
}

/** Child environment: empty, then the `passEnv` names set in the effective env, then the `env` map (06 §4.3). */
export function execChildEnv(provider: ExecProviderConfig, env: Record<string, string | undefined>): Record<string, string> {
  const child: Record<string, string> = {};
  for (const name of provider.passEnv) {
    const value = env[name];
    if (value !== undefined && value.trim() !== "") child[name] = value;
  }
  return { ...child, ...provider.env };
}

/**
 * Run the resolver once for `ids`: argv `[real command, ...args]` without a shell, cwd = the command's directory,
 * the request on stdin, stdout collected, stderr only counted. Timers: `timeoutMs` overall, `noOutputTimeoutMs`
 * re-armed on every stdout/stderr chunk; `maxOutputBytes` caps stdout + stderr. Any of them kills the resolver's
 * process group with SIGKILL.
 * @returns the raw stdout (UTF-8), or the 06 §4.3 error
 */
function runExecOnce(alias: string, provider: ExecProviderConfig, realCommand: string, childEnv: Record<string, string>, ids: string[]): Promise<Outcome<string>> {
  return new Promise((resolve) => {
    let settled = false;
    const timers: Array<ReturnType<typeof setTimeout>> = [];
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const stdout: Buffer[] = [];
    let outputBytes = 0;
    const posix = process.platform !== "win32";
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(realCommand, provider.args, {
        cwd: path.dirname(realCommand),
        env: childEnv,
        shell: false,
        stdio: ["pipe", "pipe", "pipe"],
        windowsHide: true,
        // Own process group on POSIX so a kill also reaches anything the resolver started (a `sleep` in a script
        // would otherwise keep the pipes open past the timeout).
        detached: posix,
      });
    } catch (e) {
      // e.g. an `env` entry the OS rejects; the error text is not shown (it could quote the env map).
      resolve({ ok: false, error: `Exec provider "${alias}" could not be started (${(e as NodeJS.ErrnoException).code ?? "error"}).` });
      return;
    }
    const finish = (outcome: Outcome<string>, kill: boolean) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      if (kill) {
        try {
          if (posix && child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
          else child.kill("SIGKILL");
        } catch {
          child.kill("SIGKILL");
        }
      }
      resolve(outcome);
    };
    const fail = (error: string, kill: boolean) => finish({ ok: false, error: `Exec provider "${alias}" ${error}` }, kill);
    const armIdle = () => {
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => fail(`produced no output for ${provider.noOutputTimeoutMs}ms.`, true), provider.noOutputTimeoutMs);
    };
    timers.push(setTimeout(() => fail(`timed out after ${provider.timeoutMs}ms.`, true), provider.timeoutMs));
    armIdle();
    const onChunk = (chunk: Buffer, keep: boolean) => {
      if (settled) return;
      outputBytes += chunk.length;
      if (outputBytes > provider.maxOutputBytes) return fail(`output exceeded maxOutputBytes (${provider.maxOutputBytes}).`, true);
      if (keep) stdout.push(chunk);
      armIdle();
    };
    child.stdout!.on("data", (chunk: Buffer) => onChunk(chunk, true));
    // stderr may contain secrets: it is never echoed or logged, only counted toward maxOutputBytes.
    child.stderr!.on("data", (chunk: Buffer) => onChunk(chunk, false));
    child.on("error", (e: NodeJS.ErrnoException) => fail(`could not be started (${e.code ?? "error"}).`, false));
    child.on("close", (code, signal) => {
      if (code === 0) finish({ ok: true, value: Buffer.concat(stdout).toString("utf8") }, false);
      else if (code !== null) fail(`exited with code ${code}.`, false);
      else fail(`was terminated by signal ${signal ?? "unknown"}.`, false);
    });
    // A resolver may exit without reading its request: EPIPE is expected then, not an error.
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(execRequest(alias, ids));
  });
}

/**
 * Interpret a resolver's stdout for `ids` (06 §4.3 "Response").
 * @returns per-id raw values or errors, or one error for the whole response
 */
export function parseExecResponse(alias: string, stdout: string, ids: string[], jsonOnly: boolean): Outcome<Map<string, Outcome<unknown>>> {
  const prefix = `Exec provider "${alias}"`;
  const text = stdout.trim();
  if (text === "") return { ok: false, error: `${prefix} returned empty stdout.` };
  let parsed: unknown;
  let isJson = true;
  try {
    parsed = JSON.parse(text);
  } catch {
    isJson = false;
  }
  if (!jsonOnly && ids.length === 1 && !isPlainObject(parsed)) {
    // Raw mode: non-JSON text is the value, a JSON string is decoded, other JSON scalars are taken as written.
    const value = isJson && typeof parsed === "string" ? parsed : text;
    return { ok: true, value: new Map([[ids[0]!, { ok: true, value }]]) };
  }
  // The parser's message is not shown: it can quote part of the output, i.e. of a secret.
  if (!isJson) return { ok: false, error: `${prefix} returned invalid JSON.` };
  if (!isPlainObject(parsed)) return { ok: false, error: `${prefix} response must be an object.` };
  if (parsed.protocolVersion !== 1) return { ok: false, error: `${prefix} protocolVersion must be 1.` };
  const values = parsed.values;
  if (!isPlainObject(values)) return { ok: false, error: `${prefix} response missing "values".` };
  const errors = isPlainObject(parsed.errors) ? parsed.errors : {};
  const out = new Map<string, Outcome<unknown>>();
  for (const id of ids) {
    if (Object.hasOwn(errors, id)) {
      // Only a well-formed code is shown; the free-text message could echo a secret.
      const entry = errors[id];
      const code = isPlainObject(entry) && typeof entry.code === "string" && /^[A-Z][A-Z0-9_]{0,63}$/.test(entry.code) ? entry.code : undefined;
      out.set(id, { ok: false, error: `${prefix} failed for id "${id}"${code ? ` (code ${code})` : ""}.` });
    } else if (Object.hasOwn(values, id)) {
      out.set(id, { ok: true, value: values[id] });
    } else {
      out.set(id, { ok: false, error: `${prefix} response missing id "${id}".` });
    }
  }
  return { ok: true, value: out };
}

/**
 * Resolve `ids` through one exec provider: command checks, then one resolver run per batch (batches of a provider
 * run one after another; concurrency is across providers, `maxProviderConcurrency`).
 * @param env the effective env (02 §1), source of `passEnv`
 * @returns the raw value or the 06 §4.3 error for every id (value checks of 06 §4 step 4 are the caller's)
 */
export async function resolveExecIds(
  alias: string,
  provider: ExecProviderConfig,
  env: Record<string, string | undefined>,
  ids: string[],
  maxBatchBytes: number,
): Promise<Map<string, Outcome<unknown>>> {
  const out = new Map<string, Outcome<unknown>>();
  const command = await checkExecCommand(alias, provider);
  if (!command.ok) {
    for (const id of ids) out.set(id, command);
    return out;
  }
  const { batches, oversized } = planExecBatches(alias, ids, maxBatchBytes);
  for (const id of oversized) out.set(id, { ok: false, error: `Exec provider "${alias}" request exceeded maxBatchBytes (${maxBatchBytes}).` });
  const childEnv = execChildEnv(provider, env);
  for (const batch of batches) {
    const run = await runExecOnce(alias, provider, command.value, childEnv, batch);
    const response = run.ok ? parseExecResponse(alias, run.value, batch, provider.jsonOnly) : run;
    for (const id of batch) out.set(id, response.ok ? response.value.get(id)! : { ok: false, error: response.error });
  }
  return out;
}
