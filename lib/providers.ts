/**
 * The one provider catalog (spec 02 §3): ids, aliases, env var names, API kind, default base URL, probe model.
 * Status, probes and the gateway all read this table.
 */
import { own } from "./dict.ts";

export type ApiKind = "anthropic-messages" | "openai-completions" | "openai-responses" | "google-generative-ai";

export interface CatalogEntry {
  id: string;
  /** Env vars holding a token (mode `token`), tried before the key vars. */
  tokenVars: readonly string[];
  /** Key vars tried after `<BASE>_API_KEY`, in order. */
  extraKeyVars: readonly string[];
  /** `null`: needs `models.providers.<id>.api`; `"status-only"`: no adapter at all. */
  api: ApiKind | null | "status-only";
  baseUrl: string | null;
  probeModel: string | null;
  /** OAuth-only providers have no env credential list. */
  oauthOnly?: boolean;
}

const OPENAI_COMPAT: ApiKind = "openai-completions";

function entry(
  id: string,
  api: CatalogEntry["api"],
  baseUrl: string | null,
  probeModel: string | null,
  extra: Partial<Pick<CatalogEntry, "tokenVars" | "extraKeyVars" | "oauthOnly">> = {},
): CatalogEntry {
  return { id, api, baseUrl, probeModel, tokenVars: extra.tokenVars ?? [], extraKeyVars: extra.extraKeyVars ?? [], oauthOnly: extra.oauthOnly };
}

/** Catalog rows in spec order. */
export const CATALOG: readonly CatalogEntry[] = [
  entry("anthropic", "anthropic-messages", "https://api.anthropic.com", "claude-haiku-4-5", { tokenVars: ["ANTHROPIC_OAUTH_TOKEN"] }),
  entry("openai", OPENAI_COMPAT, "https://api.openai.com/v1", "gpt-5-mini"),
  entry("openai-codex", "openai-responses", "https://chatgpt.com/backend-api", "gpt-5.2", { oauthOnly: true }),
  entry("google", "google-generative-ai", "https://generativelanguage.googleapis.com/v1beta", "gemini-2.5-flash", { extraKeyVars: ["GOOGLE_API_KEY"] }),
  entry("google-vertex", "google-generative-ai", null, null, { extraKeyVars: ["GOOGLE_API_KEY"] }),
  entry("openrouter", OPENAI_COMPAT, "https://openrouter.ai/api/v1", "openrouter/auto"),
  entry("groq", OPENAI_COMPAT, "https://api.groq.com/openai/v1", "llama-3.1-8b-instant"),
  entry("xai", OPENAI_COMPAT, "https://api.x.ai/v1", "grok-3-mini"),
  entry("mistral", OPENAI_COMPAT, "https://api.mistral.ai/v1", "mistral-small-latest"),
  entry("together", OPENAI_COMPAT, "https://api.together.xyz/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
  entry("deepseek", OPENAI_COMPAT, "https://api.deepseek.com/v1", "deepseek-chat"),
  entry("cerebras", OPENAI_COMPAT, "https://api.cerebras.ai/v1", "llama3.1-8b"),
  entry("huggingface", OPENAI_COMPAT, "https://router.huggingface.co/v1", null, { extraKeyVars: ["HUGGINGFACE_HUB_TOKEN", "HF_TOKEN"] }),
  entry("zai", OPENAI_COMPAT, "https://api.z.ai/api/paas/v4", null, { extraKeyVars: ["Z_AI_API_KEY"] }),
  entry("moonshot", OPENAI_COMPAT, "https://api.moonshot.ai/v1", null),
  entry("vercel-ai-gateway", OPENAI_COMPAT, "https://ai-gateway.vercel.sh/v1", null, { extraKeyVars: ["AI_GATEWAY_API_KEY"] }),
  entry("ollama", OPENAI_COMPAT, "http://127.0.0.1:11434/v1", null),
  entry("kimi-coding", null, null, null, { extraKeyVars: ["KIMI_API_KEY", "KIMICODE_API_KEY"] }),
  entry("opencode", null, null, null, { extraKeyVars: ["OPENCODE_ZEN_API_KEY"] }),
  entry("qwen-portal", null, null, null, { tokenVars: ["QWEN_OAUTH_TOKEN"] }),
  entry("minimax", null, null, null),
  entry("venice", null, null, null),
  entry("nvidia", null, null, null),
  entry("synthetic", null, null, null),
  entry("kilocode", null, null, null),
  entry("litellm", null, null, null),
  entry("cloudflare-ai-gateway", null, null, null),
  entry("volcengine", null, null, null, { extraKeyVars: ["VOLCANO_ENGINE_API_KEY"] }),
  entry("byteplus", null, null, null),
  entry("qianfan", null, null, null),
  entry("github-copilot", "status-only", null, null, { extraKeyVars: ["COPILOT_GITHUB_TOKEN", "GH_TOKEN", "GITHUB_TOKEN"] }),
  entry("amazon-bedrock", "status-only", null, null),
];

const BY_ID = new Map(CATALOG.map((e) => [e.id, e]));

const ALIASES: Record<string, string> = {
  "z.ai": "zai",
  "z-ai": "zai",
  "opencode-zen": "opencode",
  qwen: "qwen-portal",
  "kimi-code": "kimi-coding",
  bedrock: "amazon-bedrock",
  "aws-bedrock": "amazon-bedrock",
  bytedance: "volcengine",
  doubao: "volcengine",
};

const AUTH_ALIASES: Record<string, string> = { "volcengine-plan": "volcengine", "byteplus-plan": "byteplus" };

/** Normalise a provider id: trim, lower-case, apply the catalog aliases (02 §3). */
export function normalizeProviderId(raw: string): string {
  const id = raw.trim().toLowerCase();
  return own(ALIASES, id) ?? id;
}

/** Provider id normalisation used for auth lookups (adds the `*-plan` aliases, 02 §3). */
export function normalizeAuthProviderId(raw: string): string {
  const id = normalizeProviderId(raw);
  return own(AUTH_ALIASES, id) ?? id;
}

/** Catalog row for a normalised provider id, or undefined for custom providers. */
export function catalogEntry(providerId: string): CatalogEntry | undefined {
  return BY_ID.get(providerId);
}

/** Rotation prefix `BASE` (02 §3): upper-case id with `-`/`.` → `_`; `google`, `google-vertex` → `GEMINI`. */
export function envBase(providerId: string): string {
  if (providerId === "google" || providerId === "google-vertex") return "GEMINI";
  return providerId.toUpperCase().replace(/[-.]/g, "_");
}

/**
 * The first key of `map` whose normalised form equals `providerId` (02 §3 "Map lookups").
 * @returns the key, or undefined.
 */
export function findProviderKey(map: Record<string, unknown> | undefined, providerId: string): string | undefined {
  if (!map) return undefined;
  return Object.keys(map).find((k) => normalizeAuthProviderId(k) === providerId);
}

/** Every fixed env var name of the catalog: token vars, `<BASE>_API_KEY`, extra key vars (credential names, 02 §1). */
export function catalogEnvVarNames(): string[] {
  const names = new Set<string>();
  for (const e of CATALOG) {
    for (const v of e.tokenVars) names.add(v);
    if (!e.oauthOnly) names.add(`${envBase(e.id)}_API_KEY`);
    for (const v of e.extraKeyVars) names.add(v);
  }
  return [...names];
}

const BASES = [...new Set(CATALOG.filter((e) => !e.oauthOnly).map((e) => envBase(e.id)))];

/**
 * Is `name` a credential env name (02 §1): a catalog var, `JARVIS_GATEWAY_TOKEN`, or a rotation name
 * (`JARVIS_LIVE_<BASE>_KEY`, `<BASE>_API_KEYS`, `<BASE>_API_KEY_<suffix>`) of a catalog provider.
 */
export function isCredentialEnvName(name: string): boolean {
  if (name === "JARVIS_GATEWAY_TOKEN" || CREDENTIAL_NAMES.has(name)) return true;
  return BASES.some(
    (b) => name === `JARVIS_LIVE_${b}_KEY` || name === `${b}_API_KEYS` || (name.startsWith(`${b}_API_KEY_`) && name.length > b.length + 9),
  );
}

/** A list variable (`<BASE>_API_KEYS`) is split before normalisation (02 §4.1 step 3). */
export function isKeyListEnvName(name: string): boolean {
  return BASES.some((b) => name === `${b}_API_KEYS`);
}

const CREDENTIAL_NAMES = new Set(catalogEnvVarNames());
