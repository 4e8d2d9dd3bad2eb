/**
 * Agent selection and agent dirs (spec 01 §2).
 */
import path from "node:path";
import type { JarvisConfig } from "./config.ts";
import { UsageError } from "./errors.ts";
import { envValue, expandHome, type EnvSnapshot } from "./paths.ts";

export interface AgentSelection {
  agentId: string;
  agentDir: string;
  storePath: string;
  sessionsDir: string;
  /** How the agent was chosen. */
  via: "flag" | "env" | "default";
}

const AGENT_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Normalise an agent id (trim, lower-case). */
export function normalizeAgentId(raw: string): string {
  return raw.trim().toLowerCase();
}

/** Default agent: first `agents.list[]` entry with `default: true`, else the first entry, else `main`. */
function defaultAgentId(config: JarvisConfig): string {
  const list = config.agents?.list ?? [];
  const chosen = list.find((a) => a.default === true) ?? list[0];
  return chosen ? normalizeAgentId(chosen.id) : "main";
}

/** Known agent ids: ids of `agents.list[]` plus the default agent (only `main` without a list). */
export function knownAgentIds(config: JarvisConfig): string[] {
  const ids = (config.agents?.list ?? []).map((a) => normalizeAgentId(a.id));
  const def = defaultAgentId(config);
  return ids.includes(def) ? ids : [...ids, def];
}

/**
 * Select the agent: `--agent` > `JARVIS_AGENT_DIR` (agent id = default agent) > default agent.
 * @throws UsageError (exit 64) for an invalid or unknown `--agent`
 */
export function selectAgent(
  config: JarvisConfig,
  opts: { agentFlag?: string; env: EnvSnapshot; stateDir: string; home: string },
): AgentSelection {
  let agentId: string;
  let via: AgentSelection["via"];
  let agentDir: string | undefined;
  if (opts.agentFlag !== undefined) {
    agentId = normalizeAgentId(opts.agentFlag);
    if (!AGENT_ID.test(agentId)) throw new UsageError(`Invalid agent id "${opts.agentFlag}" (use a-z, 0-9, "_", "-").`);
    const known = knownAgentIds(config);
    if (!known.includes(agentId)) {
      throw new UsageError(`Unknown agent id "${agentId}". Configured agents: ${known.join(", ")}.`);
    }
    via = "flag";
  } else {
    agentId = defaultAgentId(config);
    const envDir = envValue(opts.env, "JARVIS_AGENT_DIR");
    if (envDir) {
      agentDir = expandHome(envDir.trim(), opts.home);
      via = "env";
    } else via = "default";
  }
  if (!agentDir) {
    const entry = (config.agents?.list ?? []).find((a) => normalizeAgentId(a.id) === agentId);
    agentDir = entry?.agentDir ? expandHome(entry.agentDir, opts.home) : path.join(opts.stateDir, "agents", agentId, "agent");
  }
  return {
    agentId,
    agentDir,
    storePath: path.join(agentDir, "auth-profiles.json"),
    sessionsDir: path.join(opts.stateDir, "agents", agentId, "sessions"),
    via,
  };
}
