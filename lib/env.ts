/**
 * The effective env (spec 02 §1, D15): process env > ./.env > $STATE/.env > config `env` block > login shell.
 * A source only fills names that are still unset (empty / whitespace-only counts as unset). Credential names go
 * through the secret normaliser (value mode); a value it rejects counts as unset and is reported.
 */
import { hasText } from "./_utils.ts";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import dotenv from "dotenv";
import { errnoCode } from "./errors.ts";
import { normalizeSecret } from "./normalize.ts";
import { catalogEnvVarNames, isCredentialEnvName, isKeyListEnvName } from "./providers.ts";
import type { EnvSnapshot } from "./paths.ts";
import { dict } from "./dict.ts";

export type EnvOrigin = "process" | "cwd-dotenv" | "state-dotenv" | "config-env" | "shell";

export interface EnvEntry {
  value: string;
  origin: EnvOrigin;
}

export interface Warning {
  code: string;
  message: string;
}

export interface EffectiveEnv {
  vars: Map<string, EnvEntry>;
  warnings: Warning[];
  shellEnvFallback: { enabled: boolean; appliedKeys: string[] };
}

/** Names a config `env` block (or a shell import) may never set (02 §1). */
const DANGEROUS = new Set([
  "NODE_OPTIONS", "NODE_PATH", "BUN_OPTIONS", "BUN_BE_BUN", "PATH", "HOME", "SHELL", "ZDOTDIR", "BASH_ENV", "ENV",
  "IFS", "PS4", "PROMPT_COMMAND", "PYTHONPATH", "PYTHONHOME", "PERL5LIB", "PERL5OPT", "RUBYLIB", "RUBYOPT",
  "GCONV_PATH", "SSLKEYLOGFILE", "OPENSSL_CONF", "EDITOR", "VISUAL", "PAGER", "GIT_SSH_COMMAND", "GIT_ASKPASS",
  "SSH_ASKPASS", "JARVIS_HOME", "JARVIS_STATE_DIR", "JARVIS_CONFIG_PATH", "JARVIS_PROFILE", "JARVIS_AGENT_DIR",
]);
const DANGEROUS_PREFIXES = ["LD_", "DYLD_", "BASH_FUNC_", "GIT_CONFIG_", "NPM_CONFIG_"];

/** True for names that config or a login shell must never set (02 §1). */
export function isDangerousEnvName(name: string): boolean {
  return DANGEROUS.has(name) || DANGEROUS_PREFIXES.some((p) => name.startsWith(p));
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** How an origin is shown in text output (02 §1 table). */
export function originLabel(origin: EnvOrigin, stateEnvDisplay: string): string {
  switch (origin) {
    case "process":
      return "env";
    case "cwd-dotenv":
      return "./.env";
    case "state-dotenv":
      return stateEnvDisplay;
    case "config-env":
      return "jarvis.json env";
    case "shell":
      return "login shell";
  }
}

/** Parse dotenv text (dotenv ≥ 16 semantics; BOM ignored). Never touches process.env. */
export function parseDotenv(text: string): Record<string, string> {
  return dotenv.parse(text.replace(/^\uFEFF/, ""));
}

/**
 * Collect the config `env` block (02 §1): `env.vars.<NAME>` first, then top-level string values except `vars` and
 * `shellEnv`. Names trimmed and checked; empty values, values containing `${` and dangerous names skipped.
 */
export function configEnvVars(envBlock: unknown): Record<string, string> {
  const out = dict<string>();
  if (!envBlock || typeof envBlock !== "object") return out;
  const block = envBlock as Record<string, unknown>;
  const take = (rawName: string, value: unknown) => {
    const name = rawName.trim();
    // Object.hasOwn, not `in`: names like `toString` must not collide with Object.prototype.
    if (!NAME.test(name) || isDangerousEnvName(name) || Object.hasOwn(out, name)) return;
    if (!hasText(value) || value.includes("${")) return;
    out[name] = value;
  };
  if (block.vars && typeof block.vars === "object") for (const [k, v] of Object.entries(block.vars)) take(k, v);
  for (const [k, v] of Object.entries(block)) if (k !== "vars" && k !== "shellEnv") take(k, v);
  return out;
}

/**
 * Fill `acc` from one source (highest sources first). Credential names are normalised (value mode);
 * `<BASE>_API_KEYS` lists are split later, so they are kept raw here.
 */
export function applyEnvSource(
  acc: Map<string, EnvEntry>,
  origin: EnvOrigin,
  vars: Readonly<Record<string, string | undefined>>,
  warnings: Warning[],
  originText: string,
): string[] {
  const applied: string[] = [];
  for (const [name, raw] of Object.entries(vars)) {
    if (raw === undefined || raw.trim() === "" || acc.has(name)) continue;
    let value = raw;
    // A variable's name is never its value (02 §1): `OPENAI_API_KEY=OPENAI_API_KEY` counts as unset.
    if (raw.trim() === name) continue;
    if (isCredentialEnvName(name) && !isKeyListEnvName(name)) {
      const n = normalizeSecret(raw, { mode: "value", what: name });
      if (!n.ok) {
        warnings.push({ code: "env.invalid_value", message: `${name} from ${originText} is not used: ${n.message}` });
        continue;
      }
      value = n.value;
    }
    acc.set(name, { value, origin });
    applied.push(name);
  }
  return applied;
}

function readDotenvFile(file: string, warnings: Warning[]): Record<string, string> {
  try {
    return parseDotenv(fs.readFileSync(file, "utf8"));
  } catch (e) {
    const code = errnoCode(e);
    if (code !== "ENOENT" && code !== "ENOTDIR") {
      warnings.push({ code: "env.unreadable", message: `cannot read ${file} (${code ?? String(e)}); its values are not used` });
    }
    return {};
  }
}

/** Truthy flag values of `JARVIS_LOAD_SHELL_ENV` (02 §1.2). */
export function isTruthy(v: string | undefined): boolean {
  return v !== undefined && ["1", "true", "yes", "on"].includes(v.trim().toLowerCase());
}

/** Choose the login shell: `$SHELL` if an absolute path to an executable file, else `/bin/sh`, else `$PREFIX/bin/sh`. */
function pickShell(env: EnvSnapshot): string {
  const candidates = [env.SHELL, "/bin/sh", env.PREFIX ? path.join(env.PREFIX, "bin", "sh") : undefined];
  for (const c of candidates) {
    if (!c || !path.isAbsolute(c)) continue;
    try {
      const st = fs.statSync(c);
      if (st.isFile() && (st.mode & 0o111) !== 0) return c;
    } catch {
      // try the next candidate
    }
  }
  return "/bin/sh";
}

/**
 * Run `<shell> -l -c 'env -0'` and return the variables it prints (02 §1.2).
 * @throws Error with a reason (timeout, output cap, exit code) — the caller turns it into a warning
 */
function readLoginShellEnv(env: EnvSnapshot, home: string, timeoutMs: number): Record<string, string> {
  // The child gets the current env minus every dangerous name — PATH included: a login shell builds its own PATH
  // from its profile files, and an inherited one could point `env` at anything (02 §1.2).
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !isDangerousEnvName(k)) childEnv[k] = v;
  childEnv.HOME = home;
  const res = spawnSync(pickShell(env), ["-l", "-c", "env -0"], {
    env: childEnv,
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    maxBuffer: 2_097_152,
    stdio: ["ignore", "pipe", "ignore"],
  });
  if (res.error) {
    const code = errnoCode(res.error);
    if (code === "ETIMEDOUT") throw new Error(`timed out after ${timeoutMs} ms`);
    if (code === "ENOBUFS") throw new Error("output larger than 2097152 bytes");
    throw new Error(code ?? res.error.message);
  }
  if (res.signal) throw new Error(`killed by ${res.signal}`);
  if (res.status !== 0) throw new Error(`exit code ${res.status}`);
  const out: Record<string, string> = {};
  for (const entry of res.stdout.toString("utf8").split("\0")) {
    const i = entry.indexOf("=");
    if (i <= 0) continue;
    out[entry.slice(0, i)] = entry.slice(i + 1);
  }
  return out;
}

export interface EnvLoadInput {
  processEnv: EnvSnapshot;
  cwd: string;
  stateDir: string;
  home: string;
  /** Raw config `env` block, only when the config file exists. */
  configEnv: unknown;
  /** Display form of `$STATE/.env` (e.g. `~/.jarvis/.env`). */
  stateEnvDisplay: string;
}

/**
 * Build the effective env from all sources (02 §1). Reads `./.env` and `$STATE/.env`, may run the login shell.
 * Never writes files.
 */
export function loadEffectiveEnv(input: EnvLoadInput): EffectiveEnv {
  const vars = new Map<string, EnvEntry>();
  const warnings: Warning[] = [];
  applyEnvSource(vars, "process", input.processEnv, warnings, "env");
  applyEnvSource(vars, "cwd-dotenv", readDotenvFile(path.join(input.cwd, ".env"), warnings), warnings, "./.env");
  applyEnvSource(vars, "state-dotenv", readDotenvFile(path.join(input.stateDir, ".env"), warnings), warnings, input.stateEnvDisplay);
  applyEnvSource(vars, "config-env", configEnvVars(input.configEnv), warnings, "jarvis.json env");

  const shellCfg = (input.configEnv as { shellEnv?: { enabled?: unknown; timeoutMs?: unknown } } | undefined)?.shellEnv;
  // The switch and its timeout are read from the effective env of sources 1–4, so a daemon can enable the import
  // from ~/.jarvis/.env like any other setting.
  const enabled = isTruthy(vars.get("JARVIS_LOAD_SHELL_ENV")?.value) || shellCfg?.enabled === true;
  const shellEnvFallback = { enabled, appliedKeys: [] as string[] };
  const expected = [...catalogEnvVarNames(), "JARVIS_GATEWAY_TOKEN"];
  if (enabled && expected.some((n) => !vars.has(n))) {
    const cfgTimeout = typeof shellCfg?.timeoutMs === "number" && shellCfg.timeoutMs > 0 ? shellCfg.timeoutMs : undefined;
    const envTimeout = Number(vars.get("JARVIS_SHELL_ENV_TIMEOUT_MS")?.value);
    const timeoutMs = cfgTimeout ?? (Number.isFinite(envTimeout) && envTimeout > 0 ? envTimeout : 15_000);
    try {
      const shellVars = readLoginShellEnv(input.processEnv, input.home, timeoutMs);
      const wanted: Record<string, string> = {};
      for (const [k, v] of Object.entries(shellVars)) {
        if (isCredentialEnvName(k) && !vars.has(k)) wanted[k] = v;
      }
      shellEnvFallback.appliedKeys = applyEnvSource(vars, "shell", wanted, warnings, "login shell").sort();
    } catch (e) {
      warnings.push({ code: "shell_env_failed", message: `shell env import failed: ${(e as Error).message}` });
    }
  }
  return { vars, warnings, shellEnvFallback };
}

/** Plain `name → value` view of the effective env. */
export function envRecord(env: EffectiveEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of env.vars) out[k] = v.value;
  return out;
}
