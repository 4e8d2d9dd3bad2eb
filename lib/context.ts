/**
 * The start-up edge: resolve paths, read the config, build the effective env, substitute `${VAR}`, select the
 * agent (spec 01 §1–§3, 02 §1.1). Everything after this works on the returned data.
 */
import path from "node:path";
import { selectAgent, type AgentSelection } from "./agents.ts";
import { loadConfig, substituteConfig, type JarvisConfig, type LoadedConfig } from "./config.ts";
import { loadEffectiveEnv, type EffectiveEnv } from "./env.ts";
import { registerSecret } from "./mask.ts";
import { displayPath, resolvePaths, type EnvSnapshot, type ResolvedPaths } from "./paths.ts";
import { splitKeyList } from "./env-keys.ts";
import { isCredentialEnvName, isKeyListEnvName } from "./providers.ts";
import type { SecretRefDefaults } from "./secret-ref.ts";
import { readSecretDefaults } from "./secrets.ts";

export interface Context {
  paths: ResolvedPaths;
  loaded: LoadedConfig;
  /** Config after `${VAR}` substitution (in memory only). */
  config: JarvisConfig;
  env: EffectiveEnv;
  agent: AgentSelection;
  secretDefaults: SecretRefDefaults;
  /** `~`-shortened display of a path. */
  show: (p: string) => string;
}

export interface ContextInput {
  processEnv: EnvSnapshot;
  cwd: string;
  profileFlag?: string;
  agentFlag?: string;
}

/**
 * Build the effective env (02 §1) for a command and apply it: lower sources fill `process.env` (exec providers and
 * child processes see them) and every credential value is registered for redaction (02 §6).
 * @param configEnv the raw config `env` block, only when the config file exists
 */
export function loadProcessEnv(input: Pick<ContextInput, "processEnv" | "cwd">, paths: ResolvedPaths, configEnv: unknown): EffectiveEnv {
  const env = loadEffectiveEnv({
    processEnv: input.processEnv,
    cwd: input.cwd,
    stateDir: paths.stateDir,
    home: paths.home,
    configEnv,
    stateEnvDisplay: displayPath(path.join(paths.stateDir, ".env"), paths.home),
  });
  for (const [name, e] of env.vars) {
    if (e.origin !== "process") process.env[name] = e.value;
    if (isCredentialEnvName(name)) {
      registerSecret(e.value);
      // A rotation list is used one element at a time, so each element is a secret of its own.
      if (isKeyListEnvName(name)) for (const item of splitKeyList(e.value)) registerSecret(item);
    }
  }
  return env;
}

/**
 * Load the context of one command. Writes nothing to disk; fills `process.env` with names from lower env sources
 * (02 §1: child processes and exec providers see them).
 * @throws JarvisError config_invalid (exit 1), UsageError for bad --profile / --agent (exit 64)
 */
export function loadContext(input: ContextInput): Context {
  const paths = resolvePaths(input.processEnv, input.profileFlag);
  const loaded = loadConfig(paths.configPath);
  const show = (p: string) => displayPath(p, paths.home);
  const env = loadProcessEnv(input, paths, loaded.exists ? loaded.raw.env : undefined);
  const secretDefaults = readSecretDefaults(loaded.raw);
  const config = substituteConfig(
    loaded.raw,
    (name) => env.vars.get(name)?.value,
    secretDefaults.env ?? "default",
  );
  const agent = selectAgent(config, { agentFlag: input.agentFlag, env: input.processEnv, stateDir: paths.stateDir, home: paths.home });
  return { paths, loaded, config, env, agent, secretDefaults, show };
}
