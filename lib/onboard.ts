/**
 * `jarvis onboard` (spec 09 §2, D22): the auth-choice table, flag parsing and validation, and turning inputs into a
 * write plan; onboard-write.ts writes and verifies it. The interactive wizard (onboard-wizard.ts) builds the same
 * plans.
 */
import { beforeDoubleDash } from "./cli.ts";
import { loadContext, type Context, type ContextInput } from "./context.ts";
import { parseDuration } from "./duration.ts";
import { JarvisError, UsageError } from "./errors.ts";
import { isLoopbackUrl } from "./_utils.ts";
import { log, printJson, printLine } from "./log.ts";
import { registerSecret } from "./mask.ts";
import { normalizeSecret } from "./normalize.ts";
import { externalPath, readExternalFile } from "./oauth-external.ts";
import { CUSTOM_ENV_VAR, envRef, fail, logNextSteps, printResult, verifyPlan, writePlan, type WritePlan } from "./onboard-write.ts";
import { resolveOrder } from "./order.ts";
import { isInteractive, readStdin } from "./prompt.ts";
import { catalogEntry, envBase } from "./providers.ts";
import { checkSetupToken, profileIdFlag, providerFlag } from "./auth-cmd.ts";
import type { Credential } from "./store-write.ts";
import { loadStore } from "./store.ts";
import { own } from "./dict.ts";

/** An API-key row of the 09 §2.2 table; the key flag has the choice's name, the env var is `<BASE>_API_KEY`. */
export interface ApiKeyChoice {
  choice: string;
  provider: string;
  label: string;
  keyFlag: string;
  envVar: string;
  defaultModel: string;
}

const API_KEY_ROWS: ReadonlyArray<[choice: string, provider: string, label: string, model?: string]> = [
  ["anthropic-api-key", "anthropic", "Anthropic API key", "claude-opus-4-6"],
  ["openai-api-key", "openai", "OpenAI API key", "gpt-5.2"],
  ["gemini-api-key", "google", "Gemini API key", "gemini-2.5-pro"],
  ["openrouter-api-key", "openrouter", "OpenRouter API key", "openrouter/auto"],
  ["groq-api-key", "groq", "Groq API key"],
  ["xai-api-key", "xai", "xAI API key"],
  ["mistral-api-key", "mistral", "Mistral API key"],
  ["together-api-key", "together", "Together API key"],
  ["deepseek-api-key", "deepseek", "DeepSeek API key"],
];

export const API_KEY_CHOICES: readonly ApiKeyChoice[] = API_KEY_ROWS.map(([choice, provider, label, model]) => ({
  choice,
  provider,
  label,
  keyFlag: choice,
  envVar: `${envBase(provider)}_API_KEY`,
  defaultModel: `${provider}/${model ?? catalogEntry(provider)!.probeModel}`,
}));

const OTHER_CHOICES = ["setup-token", "token", "custom-api-key", "openai-codex", "claude-code-import", "codex-import", "skip"] as const;
const CHOICE_ALIASES: Record<string, string> = { apiKey: "anthropic-api-key" };

/** Every `--auth-choice` value (aliases excluded), in table order. */
const AUTH_CHOICES: readonly string[] = [...API_KEY_CHOICES.map((c) => c.choice), ...OTHER_CHOICES];

const SETUP_TOKEN_MODEL = "anthropic/claude-opus-4-6";

/** The onboard choice whose env fallback is `envVar` for `provider` (used by doctor's `env.process_only` fix). */
export function authChoiceForEnvVar(provider: string, envVar: string): string | undefined {
  return API_KEY_CHOICES.find((c) => c.provider === provider && c.envVar === envVar)?.choice;
}

/** Raw onboard flags. Key values are the raw strings from argv; `-` means stdin; `null` = flag given without value. */
export interface OnboardFlags {
  nonInteractive: boolean;
  authChoice?: string;
  keys: Record<string, string | null>;
  token?: string | null;
  tokenProvider?: string;
  tokenProfileId?: string;
  tokenExpiresIn?: string;
  secretInputMode?: string;
  store?: string;
  setDefault: boolean;
  customBaseUrl?: string;
  customModelId?: string;
  customProviderId?: string;
  customCompatibility?: string;
  customApiKey?: string | null;
  json: boolean;
}

/**
 * The raw value of `--name` (last one wins): `--name=v`, or `--name v` where v is `-` or does not start with `-`.
 * @returns undefined when absent, null when given without a value
 */
function rawValue(args: readonly string[], name: string): string | null | undefined {
  let out: string | null | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") break;
    if (a.startsWith(`--${name}=`)) out = a.slice(name.length + 3);
    else if (a === `--${name}`) {
      const next = args[i + 1];
      if (next !== undefined && (next === "-" || !next.startsWith("-"))) out = args[++i]!;
      else out = null;
    }
  }
  return out;
}

/** Parse onboard's flags from raw argv (no numeric coercion; `-` kept as a value). */
export function onboardFlags(args: readonly string[]): OnboardFlags {
  const before = beforeDoubleDash(args);
  const str = (n: string) => rawValue(args, n) ?? undefined;
  const keys: Record<string, string | null> = {};
  for (const c of API_KEY_CHOICES) {
    const v = rawValue(args, c.keyFlag);
    if (v !== undefined) keys[c.keyFlag] = v;
  }
  return {
    nonInteractive: before.includes("--non-interactive"),
    authChoice: str("auth-choice"),
    keys,
    token: rawValue(args, "token"),
    tokenProvider: str("token-provider"),
    tokenProfileId: str("token-profile-id"),
    tokenExpiresIn: str("token-expires-in"),
    secretInputMode: str("secret-input-mode"),
    store: str("store"),
    setDefault: before.includes("--set-default"),
    customBaseUrl: str("custom-base-url"),
    customModelId: str("custom-model-id"),
    customProviderId: str("custom-provider-id"),
    customCompatibility: str("custom-compatibility"),
    customApiKey: rawValue(args, "custom-api-key"),
    json: before.includes("--json"),
  };
}

/**
 * The write plan of an API-key choice (09 §2.2 rules for `--store` × `--secret-input-mode`).
 * @param value the key (in ref mode: the current value of the env var, for `.env` and verification)
 */
export function apiKeyPlan(
  c: { choice: string; provider: string; envVar: string; defaultModel?: string; profileId: string },
  mode: "plaintext" | "ref",
  store: "profile" | "env",
  value: string,
  setDefault: boolean,
): WritePlan {
  const plan: WritePlan = { authChoice: c.choice, provider: c.provider, mode, store, value };
  if (store === "env") plan.dotenv = { name: c.envVar, value };
  if (mode === "ref") plan.profile = { id: c.profileId, cred: { type: "api_key", provider: c.provider, keyRef: envRef(c.envVar) } };
  else if (store === "profile") plan.profile = { id: c.profileId, cred: { type: "api_key", provider: c.provider, key: value } };
  if (mode === "ref" || store === "env") plan.envVar = c.envVar;
  if (setDefault && c.defaultModel) plan.defaultModel = c.defaultModel;
  return plan;
}

function usageEnum(flag: string, value: string | undefined, allowed: readonly string[]): string | undefined {
  if (value !== undefined && !allowed.includes(value)) throw new UsageError(`Invalid --${flag} "${value}" (use ${allowed.join(" or ")}).`);
  return value;
}

/**
 * Read a secret given as a flag value or `-` (stdin, paste mode), normalised per 02 §5.
 * @throws JarvisError invalid_input with the normaliser's message (exit 1)
 */
async function readSecretFlag(raw: string, what: string): Promise<string> {
  const fromStdin = raw === "-";
  const text = fromStdin ? await readStdin() : raw;
  const n = normalizeSecret(text, { mode: fromStdin ? "paste" : "value", what, inputPath: true });
  if (!n.ok) throw new JarvisError("invalid_input", n.code === "empty" && fromStdin ? "No token received on stdin." : n.message);
  registerSecret(n.value);
  return n.value;
}

const missing = (message: string) => new JarvisError("missing_input", message);

/**
 * Validate every flag that can be judged without reading input (exit 64 before stdin or the env is read).
 * @returns the canonical choice
 */
function validateFlags(f: OnboardFlags): string {
  usageEnum("secret-input-mode", f.secretInputMode, ["plaintext", "ref"]);
  usageEnum("store", f.store, ["profile", "env"]);
  usageEnum("custom-compatibility", f.customCompatibility, ["openai", "anthropic"]);
  const choice = own(CHOICE_ALIASES, f.authChoice!) ?? f.authChoice!;
  if (!AUTH_CHOICES.includes(choice)) throw new UsageError(`Unknown --auth-choice "${f.authChoice}" (one of: ${AUTH_CHOICES.join(", ")}).`);
  for (const [flag, v] of [...Object.entries(f.keys), ["token", f.token], ["custom-api-key", f.customApiKey]] as const) {
    if (v === null) throw new UsageError(`--${flag} needs a value (the secret, or - to read it from stdin).`);
  }
  const stdinCount = [...Object.values(f.keys), f.token, f.customApiKey].filter((v) => v === "-").length;
  if (stdinCount > 1) throw new UsageError("Only one secret can be read from stdin (-) per run.");
  const api = API_KEY_CHOICES.find((c) => c.choice === choice);
  for (const flag of Object.keys(f.keys)) {
    if (flag !== api?.keyFlag) throw new UsageError(`--${flag} does not apply to --auth-choice ${choice} (conflicting flags).`);
  }
  if (f.customApiKey !== undefined && choice !== "custom-api-key") throw new UsageError(`--custom-api-key does not apply to --auth-choice ${choice} (conflicting flags).`);
  const tokenChoice = choice === "setup-token" || choice === "token";
  if (f.token !== undefined && !tokenChoice) throw new UsageError(`--token does not apply to --auth-choice ${choice} (conflicting flags).`);
  if (f.tokenExpiresIn !== undefined) {
    if (choice !== "token") throw new UsageError("--token-expires-in applies to --auth-choice token only.");
    parseDuration(f.tokenExpiresIn, "d");
  }
  if (!api && choice !== "custom-api-key" && (f.store === "env" || f.secretInputMode === "ref")) {
    throw new UsageError(`--store env and --secret-input-mode ref apply to API-key choices, not --auth-choice ${choice}.`);
  }
  if (f.secretInputMode === "ref") {
    const inline = api ? f.keys[api.keyFlag] : choice === "custom-api-key" ? f.customApiKey : undefined;
    if (inline !== undefined) {
      const flag = api ? api.keyFlag : "custom-api-key";
      throw new UsageError(`--secret-input-mode ref stores a reference to an env var; --${flag} would be ignored (conflicting flags).`);
    }
  }
  return choice;
}

/** The non-interactive plan of an API-key choice: key from the flag, `-`, or the env fallback (09 §2.2). */
async function planFromKeyFlags(ctx: Context, f: OnboardFlags, c: ApiKeyChoice): Promise<WritePlan> {
  const mode = (f.secretInputMode ?? "plaintext") as "plaintext" | "ref";
  const store = (f.store ?? "profile") as "profile" | "env";
  const fromEnv = ctx.env.vars.get(c.envVar)?.value;
  let value: string;
  if (mode === "ref") {
    if (fromEnv === undefined) {
      throw missing(`--secret-input-mode ref stores a reference to ${c.envVar}, but ${c.envVar} is not set. Export it, or use --store env, then re-run.`);
    }
    value = fromEnv;
  } else if (f.keys[c.keyFlag]) value = await readSecretFlag(f.keys[c.keyFlag]!, `--${c.keyFlag}`);
  else if (fromEnv !== undefined) value = fromEnv;
  else throw missing(`Missing --${c.keyFlag} (or set ${c.envVar}).`);
  return apiKeyPlan({ ...c, profileId: `${c.provider}:default` }, mode, store, value, f.setDefault);
}

/** Provider id of a custom endpoint: `custom-<host, dots → dashes>` unless given. */
export function customProviderId(baseUrl: URL, flag: string | undefined): string {
  const raw = flag ?? `custom-${baseUrl.hostname.replace(/^\[|\]$/g, "").replace(/[.:]+/g, "-")}`;
  try {
    return providerFlag(raw);
  } catch {
    throw new UsageError(`Invalid --custom-provider-id "${raw}" (use a-z, 0-9, ".", "_", "-"; at most 64 characters).`);
  }
}

/** The custom endpoint plan (09 §2.2 `custom-api-key` rows). */
async function planCustom(ctx: Context, f: OnboardFlags): Promise<WritePlan> {
  if (f.customBaseUrl === undefined) throw missing("Missing --custom-base-url (the endpoint, e.g. http://127.0.0.1:8080/v1).");
  if (f.customModelId === undefined || f.customModelId.trim() === "") throw missing("Missing --custom-model-id.");
  let url: URL;
  try {
    url = new URL(f.customBaseUrl.trim());
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("scheme");
  } catch {
    throw new UsageError(`Invalid --custom-base-url "${f.customBaseUrl}" (expected an http:// or https:// URL).`);
  }
  const id = customProviderId(url, f.customProviderId);
  const mode = (f.secretInputMode ?? "plaintext") as "plaintext" | "ref";
  const store = (f.store ?? "profile") as "profile" | "env";
  const fromEnv = ctx.env.vars.get(CUSTOM_ENV_VAR)?.value;
  let value: string | undefined;
  if (mode === "ref") {
    if (fromEnv === undefined) {
      throw missing(`--secret-input-mode ref stores a reference to ${CUSTOM_ENV_VAR}, but ${CUSTOM_ENV_VAR} is not set. Export it, or use --store env, then re-run.`);
    }
    value = fromEnv;
  } else if (f.customApiKey) value = await readSecretFlag(f.customApiKey, "--custom-api-key");
  else value = fromEnv;
  if (value === undefined && !isLoopbackUrl(url)) throw missing(`Missing --custom-api-key (or set ${CUSTOM_ENV_VAR}).`);
  const endpoint = { id, baseUrl: f.customBaseUrl.trim(), modelId: f.customModelId.trim(), compatibility: f.customCompatibility ?? "openai" };
  return customPlan(endpoint, mode, store, value, f.setDefault);
}

/** Write plan of a custom endpoint; without a value (loopback) only the provider entry is written. */
export function customPlan(
  c: { id: string; baseUrl: string; modelId: string; compatibility: string },
  mode: "plaintext" | "ref",
  store: "profile" | "env",
  value: string | undefined,
  setDefault: boolean,
): WritePlan {
  const api = c.compatibility === "anthropic" ? "anthropic-messages" : "openai-completions";
  const defaultModel = `${c.id}/${c.modelId}`;
  if (value === undefined) {
    return { authChoice: "custom-api-key", provider: c.id, mode, store, credential: "custom-local", custom: { ...c, api, apiKeyRef: false }, ...(setDefault ? { defaultModel } : {}) };
  }
  const plan = apiKeyPlan({ choice: "custom-api-key", provider: c.id, envVar: CUSTOM_ENV_VAR, defaultModel, profileId: `${c.id}:default` }, mode, store, value, setDefault);
  plan.custom = { ...c, api, apiKeyRef: mode === "ref" || store === "env" };
  return plan;
}

/** Token plans: `setup-token` (anthropic) and `token` (any provider, optional expiry). */
async function planToken(f: OnboardFlags, choice: "setup-token" | "token", now: number): Promise<WritePlan> {
  let provider = "anthropic";
  if (choice === "token") {
    if (f.tokenProvider === undefined) throw missing("Missing --token-provider.");
    try {
      provider = providerFlag(f.tokenProvider);
    } catch {
      throw new UsageError(`Invalid --token-provider "${f.tokenProvider}" (use a-z, 0-9, ".", "_", "-"; at most 64 characters).`);
    }
  }
  const id = profileIdFlag(f.tokenProfileId, `${provider}:manual`);
  if (f.token === undefined || f.token === null) throw missing(`Missing --token${choice === "setup-token" ? " (the setup-token, or - to read it from stdin)" : ""}.`);
  let token: string;
  if (choice === "setup-token") {
    const r = checkSetupToken(f.token === "-" ? await readStdin() : f.token);
    if (!r.ok) throw new JarvisError("invalid_input", r.message === "setup-token is empty" && f.token === "-" ? "No token received on stdin." : r.message);
    token = r.value;
    registerSecret(token);
  } else token = await readSecretFlag(f.token, "--token");
  const cred: Credential = { type: "token", provider, token };
  if (f.tokenExpiresIn !== undefined) cred.expires = now + parseDuration(f.tokenExpiresIn, "d");
  if (f.setDefault && choice === "token") log.warn("--auth-choice token has no default model; --set-default is ignored");
  return {
    authChoice: choice,
    provider,
    mode: "plaintext",
    store: "profile",
    profile: { id, cred },
    value: token,
    ...(f.setDefault && choice === "setup-token" ? { defaultModel: SETUP_TOKEN_MODEL } : {}),
  };
}

/** Import plans (08 §5): the external file is read now; the profile is written like `models auth import`. */
function planImport(ctx: Context, choice: "claude-code-import" | "codex-import", now: number): WritePlan {
  const source = choice === "claude-code-import" ? "claude-code" : "codex";
  const file = externalPath(source, process.env, ctx.paths.home);
  const read = readExternalFile(source, file, now);
  if (read.kind === "api_key") {
    return { authChoice: choice, provider: "openai", mode: "plaintext", store: "profile", value: read.key, profile: { id: "openai:codex-cli", cred: { type: "api_key", provider: "openai", key: read.key } } };
  }
  const provider = source === "claude-code" ? "anthropic" : "openai-codex";
  const id = source === "claude-code" ? "anthropic:claude-code" : "openai-codex:codex-cli";
  const cred: Credential = { type: "oauth", provider, access: read.access, expires: read.expires, accountId: read.accountId, email: read.email, external: { source, path: file, importedAt: now } };
  return { authChoice: choice, provider, mode: "plaintext", store: "profile", value: read.access, profile: { id, cred } };
}

/**
 * `openai-codex`: the OAuth login flow of 08 §2 (`models auth login`), then the same verification and result.
 * Under `--json` the login's own result line goes to stderr, so stdout carries exactly one document.
 */
async function onboardLogin(ctx: Context, input: ContextInput, f: OnboardFlags): Promise<number> {
  const { runLogin } = await import("./oauth-cmd.ts");
  const stdoutWrite = process.stdout.write;
  if (f.json) process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  try {
    await runLogin({ provider: "openai-codex", setDefault: f.setDefault }, input);
  } finally {
    process.stdout.write = stdoutWrite;
  }
  const store = loadStore(ctx.agent.storePath);
  const id = resolveOrder("openai-codex", store, loadContext(input).config, Date.now(), undefined, ctx.secretDefaults).ids[0];
  const p = id !== undefined ? store.profiles[id] : undefined;
  if (!p || p.type !== "oauth") throw fail("an eligible openai-codex OAuth profile", "none was found after the login");
  const plan: WritePlan = { authChoice: "openai-codex", provider: "openai-codex", mode: "plaintext", store: "profile", profile: { id: id!, cred: { type: "oauth", provider: "openai-codex" } } };
  if (f.setDefault) plan.defaultModel = "openai-codex/gpt-5.2";
  if (f.json) printResult(ctx, plan, true);
  else log.info(`Verified: ${id} is the credential openai-codex uses.`);
  return 0;
}

/**
 * `jarvis onboard` (09 §2). Non-interactive with `--auth-choice`; the wizard on a TTY otherwise.
 * @returns 0 (stored and verified, or skip)
 * @throws UsageError (64), JarvisError missing_input / invalid_input / verification_failed (1), CancelledError (130)
 */
export async function runOnboard(f: OnboardFlags, input: ContextInput, now = Date.now()): Promise<number> {
  if (f.authChoice === undefined) {
    if (f.nonInteractive) throw missing(`--non-interactive needs --auth-choice (one of: ${AUTH_CHOICES.join(", ")}).`);
    if (!isInteractive()) {
      throw new JarvisError("no_tty", `jarvis onboard needs a terminal; without one use jarvis onboard --non-interactive --auth-choice <choice> (one of: ${AUTH_CHOICES.join(", ")}).`);
    }
    const { runWizard } = await import("./onboard-wizard.ts");
    return runWizard(input);
  }
  const choice = validateFlags(f);
  if (choice === "skip") {
    if (f.json) printJson({ ok: true, authChoice: "skip", verified: true });
    else printLine("Skipped; nothing was changed.");
    return 0;
  }
  const ctx = loadContext(input);
  if (choice === "openai-codex") return onboardLogin(ctx, input, f);
  const api = API_KEY_CHOICES.find((c) => c.choice === choice);
  const plan = api
    ? await planFromKeyFlags(ctx, f, api)
    : choice === "custom-api-key"
      ? await planCustom(ctx, f)
      : choice === "setup-token" || choice === "token"
        ? await planToken(f, choice, now)
        : planImport(ctx, choice as "claude-code-import" | "codex-import", now);
  await writePlan(ctx, plan, input.processEnv);
  await verifyPlan(input, plan);
  printResult(ctx, plan, f.json);
  if (!f.json) logNextSteps();
  return 0;
}
