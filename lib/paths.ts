/**
 * Home, profile, state dir, config path and display paths (spec 01 §1). Pure: callers pass an env snapshot.
 */
import os from "node:os";
import path from "node:path";
import { UsageError } from "./errors.ts";

export type EnvSnapshot = Readonly<Record<string, string | undefined>>;

/** An env value that is unset when empty or whitespace-only (spec README). */
export function envValue(env: EnvSnapshot, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === "" ? undefined : v;
}

export interface ResolvedPaths {
  home: string;
  /** Active profile name, or undefined for the default profile. */
  profile?: string;
  stateDir: string;
  configPath: string;
}

/** Expand a leading `~` against `home` and make the result absolute. */
export function expandHome(p: string, home: string): string {
  if (p === "~") return home;
  if (p.startsWith("~/") || p.startsWith("~\\")) return path.resolve(home, p.slice(2));
  return path.resolve(p);
}

function baseHome(env: EnvSnapshot): string {
  return envValue(env, "HOME") ?? envValue(env, "USERPROFILE") ?? os.homedir();
}

/**
 * Resolve home, profile, state dir and config path once at start-up (01 §1).
 * @param profileFlag value of `--profile`, if given (raw string)
 * @throws UsageError for an invalid profile name (exit 64)
 */
export function resolvePaths(env: EnvSnapshot, profileFlag?: string): ResolvedPaths {
  const jarvisHome = envValue(env, "JARVIS_HOME");
  const home = jarvisHome ? expandHome(jarvisHome.trim(), baseHome(env)) : path.resolve(baseHome(env));
  const rawProfile = profileFlag ?? envValue(env, "JARVIS_PROFILE");
  let profile: string | undefined;
  if (rawProfile !== undefined) {
    const p = rawProfile.trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(p)) throw new UsageError('Invalid --profile (use letters, numbers, "_", "-" only)');
    if (p.toLowerCase() !== "default") profile = p;
  }
  const explicitState = envValue(env, "JARVIS_STATE_DIR");
  const stateDir = explicitState
    ? expandHome(explicitState.trim(), home)
    : path.join(home, profile ? `.jarvis-${profile}` : ".jarvis");
  const explicitConfig = envValue(env, "JARVIS_CONFIG_PATH");
  const configPath = explicitConfig ? expandHome(explicitConfig.trim(), home) : path.join(stateDir, "jarvis.json");
  return { home, profile, stateDir, configPath };
}

/** Human display of a path: the home prefix becomes `~` (01 §1 "Display paths"). JSON always uses absolute paths. */
export function displayPath(p: string, home: string): string {
  if (p === home) return "~";
  const prefix = home.endsWith(path.sep) ? home : home + path.sep;
  return p.startsWith(prefix) ? "~/" + p.slice(prefix.length) : p;
}

/** Termux is detected by `TERMUX_VERSION` or a `PREFIX` containing `/com.termux/` (10 §4). */
export function isTermux(env: EnvSnapshot): boolean {
  return envValue(env, "TERMUX_VERSION") !== undefined || (envValue(env, "PREFIX") ?? "").includes("/com.termux/");
}
