/**
 * Model refs, aliases, the default model chain and providers in use (spec 01 §3.3, D16).
 */
import { hasText } from "./_utils.ts";
import type { JarvisConfig, ModelSpec } from "./config.ts";
import { normalizeAgentId } from "./agents.ts";
import { normalizeProviderId } from "./providers.ts";
import { dict } from "./dict.ts";

const BUILTIN_DEFAULT_MODEL = "anthropic/claude-opus-4-6";

export interface ModelRef {
  provider: string;
  model: string;
}

/** `<provider>/<model>` display form. */
export function refString(ref: ModelRef): string {
  return `${ref.provider}/${ref.model}`;
}

/**
 * Split a model ref on the first `/`: provider normalised, model kept verbatim.
 * @returns undefined when either part is empty
 */
export function splitModelRef(raw: string): ModelRef | undefined {
  const i = raw.indexOf("/");
  if (i <= 0 || i === raw.length - 1) return undefined;
  const provider = normalizeProviderId(raw.slice(0, i));
  const model = raw.slice(i + 1);
  return provider ? { provider, model } : undefined;
}

/** Alias → model ref map from `agents.defaults.models.<ref>.alias` (alias as written). */
export function aliasMap(config: JarvisConfig): Record<string, string> {
  const out = dict<string>();
  for (const [ref, v] of Object.entries(config.agents?.defaults?.models ?? {})) {
    if (v && hasText(v.alias)) out[v.alias.trim()] = ref;
  }
  return out;
}

function specParts(spec: ModelSpec | undefined): { primary?: string; fallbacks?: string[] } {
  if (spec === undefined) return {};
  if (typeof spec === "string") return { primary: spec };
  return { primary: spec.primary, fallbacks: spec.fallbacks };
}

export interface ModelChain {
  defaultModel: string;
  fallbacks: string[];
  imageModel: string | null;
  imageFallbacks: string[];
  defaultSource: "agent" | "defaults" | "builtin";
  fallbacksSource: "agent" | "defaults" | "builtin";
}

/** Raw default/fallback/image model strings of an agent; agent `model` overrides defaults part by part (01 §2). */
export function modelChain(config: JarvisConfig, agentId: string): ModelChain {
  const agent = (config.agents?.list ?? []).find((a) => normalizeAgentId(a.id) === agentId);
  const a = specParts(agent?.model);
  const d = specParts(config.agents?.defaults?.model);
  const img = specParts(config.agents?.defaults?.imageModel);
  const pick = <T>(av: T | undefined, dv: T | undefined, fallback: T): [T, ModelChain["defaultSource"]] =>
    av !== undefined ? [av, "agent"] : dv !== undefined ? [dv, "defaults"] : [fallback, "builtin"];
  const [defaultModel, defaultSource] = pick(a.primary, d.primary, BUILTIN_DEFAULT_MODEL);
  const [fallbacks, fallbacksSource] = pick(a.fallbacks, d.fallbacks, [] as string[]);
  return {
    defaultModel,
    fallbacks,
    imageModel: img.primary ?? null,
    imageFallbacks: img.fallbacks ?? [],
    defaultSource,
    fallbacksSource,
  };
}

/** Every configured model ref string (default, fallbacks, image models, `agents.defaults.models` keys, provider models). */
function configuredRefs(config: JarvisConfig, chain: ModelChain): string[] {
  const refs = [chain.defaultModel, ...chain.fallbacks];
  if (chain.imageModel) refs.push(chain.imageModel);
  refs.push(...chain.imageFallbacks, ...Object.keys(config.agents?.defaults?.models ?? {}));
  for (const [p, prov] of Object.entries(config.models?.providers ?? {})) {
    for (const m of prov?.models ?? []) if (m && typeof m.id === "string") refs.push(`${p}/${m.id}`);
  }
  return refs;
}

/**
 * Resolve a user string to a model ref (01 §3.3): alias (case-insensitive) first; a string with `/` is split;
 * a bare model id matching exactly one configured model uses it; otherwise provider `anthropic`.
 * @returns undefined for an invalid ref (empty part)
 */
export function resolveModelRef(raw: string, config: JarvisConfig, chain: ModelChain): ModelRef | undefined {
  const s = raw.trim();
  if (!s) return undefined;
  const lower = s.toLowerCase();
  for (const [alias, ref] of Object.entries(aliasMap(config))) {
    if (alias.toLowerCase() === lower) return splitModelRef(ref);
  }
  if (s.includes("/")) return splitModelRef(s);
  const matches = new Set<string>();
  for (const r of configuredRefs(config, chain)) {
    if (r.includes("/")) {
      const ref = splitModelRef(r);
      if (ref && ref.model === s) matches.add(refString(ref));
    }
  }
  if (matches.size === 1) return splitModelRef([...matches][0]!);
  return { provider: "anthropic", model: s };
}

/**
 * Providers in use (D16): providers of the default model and fallbacks, image model and image fallbacks,
 * and the keys of `agents.defaults.models`. Sorted, unique.
 */
export function providersInUse(config: JarvisConfig, chain: ModelChain): string[] {
  const raws = [chain.defaultModel, ...chain.fallbacks, ...(chain.imageModel ? [chain.imageModel] : []), ...chain.imageFallbacks];
  const set = new Set<string>();
  for (const r of raws) {
    const ref = resolveModelRef(r, config, chain);
    if (ref) set.add(ref.provider);
  }
  for (const k of Object.keys(config.agents?.defaults?.models ?? {})) {
    const ref = splitModelRef(k);
    if (ref) set.add(ref.provider);
  }
  return [...set].sort();
}

/** Every configured model ref (resolved), for provider listing and probe model choice. */
export function allModelRefs(config: JarvisConfig, chain: ModelChain): ModelRef[] {
  const out: ModelRef[] = [];
  for (const r of configuredRefs(config, chain)) {
    const ref = resolveModelRef(r, config, chain);
    if (ref) out.push(ref);
  }
  return out;
}
