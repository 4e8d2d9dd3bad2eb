/**
 * The runtime shared by probes and the gateway (spec 07 §5, 04 §7): provider plan (adapter, base URL, headers),
 * credential resolution for profiles / env / config, one attempt through an adapter, env key rotation, and
 * recording outcomes in the store (field-level, under the lock).
 */
import { hasText } from "./_utils.ts";
import type { JarvisConfig } from "./config.ts";
import { buildProviderRequest, parseCompletion, type AdapterTarget, type AttemptCredential, type ChatRequest, type Completion } from "./adapters.ts";
import { classifyFailure, classifyHttpFailure, type Classified } from "./classify.ts";
import { credentialEligibility, profileRef } from "./eligibility.ts";
import { envCredentialList, type EnvCredential } from "./env-keys.ts";
import { envRecord, type EffectiveEnv } from "./env.ts";
import { postText } from "./http.ts";
import { log } from "./log.ts";
import { registerSecret } from "./mask.ts";
import { allModelRefs, modelChain } from "./models.ts";
import { catalogEntry, findProviderKey, type ApiKind } from "./providers.ts";
import { refKey, type SecretRefDefaults, coerceSecretRef } from "./secret-ref.ts";
import { resolveSecretRefs } from "./secrets.ts";
import { configCredential } from "./config-credential.ts";
import { markFailure, markSuccess, mutateStore } from "./store-write.ts";
import { failureLogLine } from "./cooldown.ts";
import type { Profile, UsageStats } from "./store.ts";
import { JarvisError } from "./errors.ts";
import { refreshProfile, type RefreshContext } from "./oauth.ts";

/** What the runtime needs from the start-up context. */
export interface RuntimeContext {
  config: JarvisConfig;
  env: EffectiveEnv;
  home: string;
  agentId: string;
  storePath: string;
  secretDefaults: SecretRefDefaults;
}

export type ProviderPlan = { ok: true; api: ApiKind; baseUrl: string } | { ok: false; error: string };

/**
 * Adapter and base URL for provider P: `models.providers.<P>.api` › catalog; `baseUrl` › catalog default.
 * @returns `ok: false` (`no_adapter`) for status-only providers or a missing API kind / base URL
 */
export function providerPlan(providerId: string, config: JarvisConfig): ProviderPlan {
  const key = findProviderKey(config.models?.providers, providerId);
  const entry = key !== undefined ? config.models!.providers![key] : undefined;
  const cat = catalogEntry(providerId);
  const api = (entry?.api as ApiKind | undefined) ?? (cat?.api === "status-only" ? undefined : (cat?.api ?? undefined));
  const baseUrl = (typeof entry?.baseUrl === "string" && entry.baseUrl) || cat?.baseUrl || undefined;
  if (!api || !baseUrl) return { ok: false, error: `No adapter for provider "${providerId}" (set models.providers.${providerId}.api).` };
  return { ok: true, api, baseUrl };
}

/**
 * Probe model of provider P (02 §3): first configured model ref of P, else the catalog probe model.
 * @returns the model id (without provider), or undefined (`no_model`)
 */
export function probeModelFor(providerId: string, config: JarvisConfig, agentId: string): string | undefined {
  const chain = modelChain(config, agentId);
  const ref = allModelRefs(config, chain).find((r) => r.provider === providerId);
  return ref?.model ?? catalogEntry(providerId)?.probeModel ?? undefined;
}

/** `models.providers.<P>.headers` with SecretRefs resolved; unresolved headers are left out with a warning. */
export async function extraHeaders(providerId: string, rt: RuntimeContext): Promise<Record<string, string>> {
  const key = findProviderKey(rt.config.models?.providers, providerId);
  const raw = key !== undefined ? rt.config.models!.providers![key]!.headers : undefined;
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const [name, v] of Object.entries(raw)) {
    if (typeof v === "string") out[name] = v;
    else {
      const c = coerceSecretRef(v, rt.secretDefaults);
      if (!c || !("ref" in c)) continue;
      const r = (await resolveSecretRefs([c.ref], resolveCtx(rt)))
        .get(refKey(c.ref))!;
      if (r.ok) {
        registerSecret(r.value);
        out[name] = r.value;
      } else log.warn(`header ${name} of provider ${providerId} not sent: ${r.error}`);
    }
  }
  return out;
}

function resolveCtx(rt: RuntimeContext) {
  return { env: envRecord(rt.env), home: rt.home, config: rt.config, allowExec: true };
}

export type CredentialOutcome =
  | { ok: true; cred: AttemptCredential }
  | { ok: false; reasonCode: string; error: string; /** OAuth refresh rejected for good (already marked). */ permanent?: boolean };

/**
 * The credential of a profile at use time (07 §5 step 4): refs resolved (unresolved → `unresolved_ref`, never
 * recorded), expiry checked. With `profileId`, an OAuth access token within 60 s of `expires` is refreshed first
 * (08 §4; an external profile re-reads its source, 08 §5); a rejected refresh is `relogin_required` (`permanent`),
 * any other failure, or an expired token without `profileId`, is `expired`.
 * @param now epoch ms
 */
export async function profileCredential(
  profile: Profile,
  stats: UsageStats | undefined,
  rt: RuntimeContext,
  now: number,
  profileId?: string,
): Promise<CredentialOutcome> {
  const e = credentialEligibility(profile, stats, now, rt.secretDefaults);
  if (!e.eligible) return { ok: false, reasonCode: e.reasonCode, error: e.hint ?? e.reasonCode };
  const ref = profileRef(profile, rt.secretDefaults);
  if (ref && "ref" in ref) {
    const r = (await resolveSecretRefs([ref.ref], resolveCtx(rt))).get(refKey(ref.ref))!;
    if (!r.ok) return { ok: false, reasonCode: "unresolved_ref", error: r.error };
    registerSecret(r.value);
    return { ok: true, cred: { type: profile.type === "token" ? "token" : "api_key", value: r.value } };
  }
  if (ref) return { ok: false, reasonCode: "unresolved_ref", error: ref.error };
  // Registered so that a provider error echoing the value is redacted (02 §6).
  if (profile.type === "api_key") return { ok: true, cred: { type: "api_key", value: registered(profile.key!.trim()) } };
  if (profile.type === "token") return { ok: true, cred: { type: "token", value: registered(profile.token!.trim()) } };
  const expires = typeof profile.expires === "number" ? profile.expires : 0;
  // Refresh (or re-read an external source) 60 s before expiry (08 §4, §5); status still reports expiry at `expires`.
  if (profileId !== undefined && now >= expires - 60_000) {
    const r = await refreshProfile(refreshContextOf(rt), profileId, false);
    if (r.ok && hasText(r.profile.access)) {
      return { ok: true, cred: { type: "oauth", value: registered(r.profile.access.trim()), accountId: r.profile.accountId } };
    }
    if (!r.ok) return { ok: false, reasonCode: r.permanent ? "relogin_required" : "expired", error: r.message, permanent: r.permanent };
  }
  if (hasText(profile.access) && now < expires) {
    return { ok: true, cred: { type: "oauth", value: registered(profile.access.trim()), accountId: profile.accountId } };
  }
  return { ok: false, reasonCode: "expired", error: "the OAuth access token has expired and needs a refresh" };
}

/** The refresh context (08 §4) of a runtime context. */
function refreshContextOf(rt: RuntimeContext): RefreshContext {
  return { storePath: rt.storePath, config: rt.config, env: envRecord(rt.env), home: rt.home, secretDefaults: rt.secretDefaults, now: Date.now };
}

/**
 * Force one refresh of an OAuth profile after an `auth` failure (07 §5 step 6) and return its new credential.
 * @returns undefined when the refresh did not produce a new token
 */
export async function forceRefreshCredential(profileId: string, rt: RuntimeContext): Promise<CredentialOutcome | undefined> {
  const r = await refreshProfile(refreshContextOf(rt), profileId, true);
  if (!r.ok || !r.refreshed || typeof r.profile.access !== "string") return undefined;
  return { ok: true, cred: { type: "oauth", value: registered(r.profile.access.trim()), accountId: r.profile.accountId } };
}

function registered(value: string): string {
  registerSecret(value);
  return value;
}

/**
 * Env credential list of P as attempt credentials (02 §4). Each entry is registered for redaction: the context only
 * knows whole variable values, and an element of `<BASE>_API_KEYS` is not one.
 */
export function envCredentials(providerId: string, rt: RuntimeContext): EnvCredential[] {
  const entries = envCredentialList(providerId, rt.env.vars).entries;
  for (const e of entries) registerSecret(e.value);
  return entries;
}

/** The config (or synthetic local) credential of P, resolved. @returns undefined when P has none */
export async function configCredentialValue(providerId: string, rt: RuntimeContext): Promise<CredentialOutcome | undefined> {
  const c = configCredential(providerId, rt.config, rt.env.vars, rt.secretDefaults);
  if (!c || !c.present) return c?.kind === "invalid_ref" ? { ok: false, reasonCode: "unresolved_ref", error: c.error ?? "invalid ref" } : undefined;
  if (c.kind === "ref" && c.ref) {
    const r = (await resolveSecretRefs([c.ref], resolveCtx(rt))).get(refKey(c.ref))!;
    if (!r.ok) return { ok: false, reasonCode: "unresolved_ref", error: r.error };
    registerSecret(r.value);
    return { ok: true, cred: { type: "api_key", value: r.value } };
  }
  if (c.kind === "local") return { ok: true, cred: { type: "local", value: c.value! } };
  return { ok: true, cred: { type: "api_key", value: registered(c.value!) } };
}

export type AttemptResult =
  | { ok: true; completion: Completion; httpStatus: number; latencyMs: number }
  | { ok: false; failure: Classified; httpStatus?: number; latencyMs: number };

/**
 * One non-streaming attempt through the adapter. Success = 2xx and a body that parses as an error-free completion.
 * @param timeoutMs overall HTTP timeout
 */
export async function attemptOnce(target: AdapterTarget, cred: AttemptCredential, req: ChatRequest, timeoutMs: number): Promise<AttemptResult> {
  const t0 = performance.now();
  let preq;
  try {
    preq = buildProviderRequest(target, cred, { ...req, stream: false });
  } catch (e) {
    return { ok: false, failure: { reason: "format", message: (e as Error).message, rotate: false }, latencyMs: 0 };
  }
  const res = await postText(preq, timeoutMs);
  const latencyMs = Math.round(performance.now() - t0);
  if (!res.ok) return { ok: false, failure: classifyFailure({ transport: res.transport, text: res.message }), latencyMs };
  if (res.status >= 200 && res.status < 300) {
    const parsed = parseCompletion(target.api, res.text);
    if (parsed.ok) return { ok: true, completion: parsed.completion, httpStatus: res.status, latencyMs };
    return { ok: false, failure: classifyFailure({ structured: parsed.structured, text: parsed.text }), httpStatus: res.status, latencyMs };
  }
  return { ok: false, failure: classifyHttpFailure(res.status, res.text), httpStatus: res.status, latencyMs };
}

/**
 * Try env credentials in order, moving to the next key only on a rotation trigger (D6); the last error is returned.
 * @returns the final attempt and how many keys were tried
 */
export async function attemptWithRotation(
  target: AdapterTarget,
  creds: EnvCredential[],
  req: ChatRequest,
  timeoutMs: number,
): Promise<{ result: AttemptResult; keysTried: number; used: EnvCredential }> {
  let last: AttemptResult | undefined;
  let tried = 0;
  let used = creds[0]!;
  for (const c of creds) {
    tried++;
    used = c;
    last = await attemptOnce(target, { type: c.mode, value: c.value }, req, timeoutMs);
    if (last.ok || !last.failure.rotate) break;
  }
  return { result: last!, keysTried: tried, used };
}

/**
 * Record an attempt on a profile (03 §5, §7): success → markSuccess; failure → markFailure when recordable.
 * Bookkeeping that cannot get the lock is dropped with a warning (never an unlocked write).
 */
export async function recordOutcome(
  rt: RuntimeContext,
  profileId: string,
  providerId: string,
  outcome: { ok: true } | { ok: false; reason: string; model?: string },
  now: number,
): Promise<void> {
  try {
    await mutateStore(rt.storePath, (doc) => {
      if (!doc) return { doc: undefined, result: undefined };
      if (outcome.ok) return { doc: markSuccess(doc, profileId, providerId, now) ? doc : undefined, result: undefined };
      const next = markFailure(doc, profileId, outcome.reason, now, rt.config, outcome.model);
      if (next) log.info(failureLogLine(profileId, outcome.reason, next));
      return { doc: next ? doc : undefined, result: undefined };
    });
  } catch (e) {
    log.warn(`usage state for ${profileId} not recorded: ${e instanceof JarvisError ? e.message : String(e)}`);
  }
}
