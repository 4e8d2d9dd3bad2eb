/**
 * The `models status` model (spec 04 §2, §4–§6): a pure function from config, env, store, resolved refs and `now`
 * to the JSON report and the `--check` verdict. Rendering lives in status-text.ts.
 */
import { compareStrings, hasText } from "./_utils.ts";
import type { JarvisConfig } from "./config.ts";
import { activeWindow } from "./cooldown.ts";
import { expiryState, profileRef } from "./eligibility.ts";
import type { EffectiveEnv, Warning } from "./env.ts";
import { envCredentialList, type EnvCredentialList } from "./env-keys.ts";
import { mask } from "./mask.ts";
import { aliasMap, allModelRefs, modelChain, providersInUse, refString, resolveModelRef, type ModelChain } from "./models.ts";
import { resolveOrder, storeProfileIds, listingOrder } from "./order.ts";
import { CATALOG, envBase, findProviderKey, normalizeAuthProviderId } from "./providers.ts";
import { coerceSecretRef, refDisplay, refKey, type SecretRef, type SecretRefDefaults } from "./secret-ref.ts";
import type { AuthStore, Profile } from "./store.ts";
import { configCredential } from "./config-credential.ts";
import { short } from "./duration.ts";

/** The warn window without `--warn-within`: 24 h in ms (04 §1); doctor, `auth list` and `/model status` use it too. */
export const DEFAULT_WARN_WITHIN_MS = 86_400_000;

/** Outcome of resolving one ref (keyed by `refKey`). `skipped`: an exec ref not resolved on this run. */
export type RefResolution = { ok: true; value: string } | { ok: false; error: string; skipped?: boolean };

export interface StatusInput {
  configPath: string;
  agentId: string;
  agentDir: string;
  config: JarvisConfig;
  env: EffectiveEnv;
  store: AuthStore;
  /** Outcomes for every ref the report needs (see `refsToResolve`). */
  refs: ReadonlyMap<string, RefResolution>;
  secretDefaults: SecretRefDefaults;
  legacyFiles: string[];
  extraWarnings: Warning[];
  now: number;
  warnWithinMs: number;
  check: boolean;
  /** `~`-shortening for labels in text; JSON keeps absolute paths. */
  showPath: (p: string) => string;
}

export type ProfileStatus = "ok" | "expiring" | "expired" | "static" | "missing" | "unresolved";

export interface ProfileHealth {
  profileId: string;
  provider: string;
  type: Profile["type"];
  status: ProfileStatus;
  reasonCode?: string;
  hint?: string;
  expiresAt?: number;
  remainingMs?: number;
  refreshable?: boolean;
  needsRelogin?: boolean;
  external?: string;
  ref?: SecretRef;
  fix?: string;
  source: "store";
  label: string;
}

export interface ProviderReport {
  provider: string;
  inUse: boolean;
  effective: { kind: "profiles" | "env" | "config" | "local" | "missing"; detail?: string; profileId?: string };
  profiles: { count: number; oauth: number; token: number; apiKey: number; labels: string[] };
  env?: { value: string; source: string; origin: string; keyCount: number; shadowed: boolean };
  config?: { value: string; source: string; shadowed: boolean };
}

export interface CheckItem {
  code: string;
  provider: string;
  profileId?: string;
}

export interface StatusReport {
  configPath: string;
  agentId: string;
  agentDir: string;
  defaultModel: string;
  resolvedDefault: string;
  fallbacks: string[];
  imageModel: string | null;
  imageFallbacks: string[];
  modelConfig: { defaultSource: string; fallbacksSource: string };
  aliases: Record<string, string>;
  allowed: string[];
  auth: {
    storePath: string;
    storeStatus: AuthStore["status"];
    shellEnvFallback: { enabled: boolean; appliedKeys: string[] };
    providersWithOAuth: string[];
    providersInUse: string[];
    missingProvidersInUse: string[];
    providers: ProviderReport[];
    unusableProfiles: Array<{ profileId: string; provider: string; kind: string; reason: string; model?: string; until: number; remainingMs: number }>;
    invalidProfiles: Array<{ profileId: string; reason: string; detail: string }>;
    unresolvedRefs: Array<{ profileId?: string; provider: string; path?: string; ref: SecretRef; error: string }>;
    legacyFiles: string[];
    warnings: Warning[];
    oauth: {
      warnAfterMs: number;
      profiles: ProfileHealth[];
      providers: Array<{ provider: string; status: string; profiles: string[]; expiresAt?: number; remainingMs?: number }>;
    };
  };
  check?: { exitCode: number; warnWithinMs: number; failures: CheckItem[]; warnings: CheckItem[] };
}

/**
 * Every SecretRef the report needs: profile refs (api_key/token, when the ref wins) and config credential refs.
 * The caller resolves them (exec only with `--resolve-exec` / `--check`) and passes the outcomes in `StatusInput.refs`.
 */
export function refsToResolve(store: AuthStore, config: JarvisConfig, defaults: SecretRefDefaults): SecretRef[] {
  const out = new Map<string, SecretRef>();
  for (const p of Object.values(store.profiles)) {
    const r = profileRef(p, defaults);
    if (r && "ref" in r) out.set(refKey(r.ref), r.ref);
  }
  for (const key of Object.keys(config.models?.providers ?? {})) {
    const c = coerceSecretRef(config.models!.providers![key]!.apiKey, defaults);
    if (c && "ref" in c) out.set(refKey(c.ref), c.ref);
  }
  return [...out.values()];
}

function fixFor(id: string, p: Profile, provider: string, status: ProfileStatus, relogin: boolean, refreshable: boolean): string | undefined {
  if (p.type === "oauth") {
    if (p.external && status === "expired") {
      const src = p.external.source === "codex" ? "codex" : "claude-code";
      return `open ${src === "codex" ? "Codex" : "Claude Code"} so it renews its login, then jarvis models auth import --from ${src}`;
    }
    if (relogin || (status === "expired" && !refreshable) || status === "missing") return `jarvis models auth login --provider ${provider} --profile-id ${id}`;
    if (refreshable && (status === "expired" || status === "expiring")) return `jarvis models auth refresh --profile-id ${id}`;
    return undefined;
  }
  if (p.type === "token" && (status === "expired" || status === "expiring" || status === "missing")) {
    if (provider === "anthropic" && id.endsWith(":manual")) return "jarvis models auth setup-token --provider anthropic";
    return `jarvis models auth paste-token --provider ${provider} --profile-id ${id}`;
  }
  return undefined;
}

/** Profile health of 04 §4 (table order). */
export function profileHealth(
  id: string,
  p: Profile,
  input: Pick<StatusInput, "store" | "refs" | "secretDefaults" | "now" | "warnWithinMs" | "config">,
): ProfileHealth {
  const provider = normalizeAuthProviderId(p.provider);
  const email = input.config.auth?.profiles?.[id]?.email ?? (typeof p.email === "string" ? p.email : undefined);
  const h: ProfileHealth = {
    profileId: id,
    provider,
    type: p.type,
    status: "static",
    source: "store",
    label: p.type === "oauth" && email ? `${id} (${email})` : id,
  };
  const stats = input.store.usageStats[id];
  const ref = profileRef(p, input.secretDefaults);
  if (ref) {
    if ("ref" in ref) {
      const r = input.refs.get(refKey(ref.ref));
      if (r && !r.ok && !r.skipped) return inFieldOrder({ ...h, status: "unresolved", reasonCode: "unresolved_ref", ref: ref.ref });
    } else {
      return inFieldOrder({ ...h, status: "unresolved", reasonCode: "unresolved_ref" });
    }
  }
  const hasRef = ref !== undefined;
  if (p.type === "api_key") {
    return inFieldOrder(hasText(p.key) || hasRef ? h : { ...h, status: "missing", reasonCode: "missing_credential" });
  }
  if (p.type === "token" && !hasText(p.token) && !hasRef) return inFieldOrder({ ...h, status: "missing", reasonCode: "missing_credential" });
  if (p.type === "oauth" && !hasText(p.access) && !hasText(p.refresh)) return inFieldOrder({ ...h, status: "missing", reasonCode: "missing_credential" });
  if (p.type === "oauth" && p.external) h.external = p.external.source;
  const e = expiryState(p.expires, input.now);
  if (e.state === "invalid_expires" || (p.type === "oauth" && e.state === "none")) {
    const out: ProfileHealth = { ...h, status: "missing", reasonCode: "invalid_expires" };
    if (e.hint) out.hint = e.hint;
    out.fix = fixFor(id, p, provider, "missing", false, false);
    return inFieldOrder(out);
  }
  if (e.state === "none") return inFieldOrder(h);
  const expiresAt = p.expires as number;
  const remainingMs = expiresAt - input.now;
  const relogin = p.type === "oauth" && stats?.needsRelogin !== undefined;
  const refreshable = p.type === "oauth" && !p.external && hasText(p.refresh) && !relogin;
  const out: ProfileHealth = { ...h, expiresAt, remainingMs };
  if (remainingMs <= 0) {
    out.status = "expired";
    out.reasonCode = "expired";
  } else if (relogin) {
    out.status = "expiring";
    out.reasonCode = "relogin_required";
    out.needsRelogin = true;
  } else if (remainingMs <= input.warnWithinMs) out.status = "expiring";
  else out.status = "ok";
  if (p.type === "oauth" && out.status !== "ok" && !p.external && !relogin) out.refreshable = refreshable;
  if (relogin && out.status === "expired") out.needsRelogin = true;
  const fix = fixFor(id, p, provider, out.status, relogin, refreshable);
  if (fix) out.fix = fix;
  return inFieldOrder(out);
}

// Field order of `auth.oauth.profiles[]` in 04 §5.4; `--json` prints keys in insertion order.
const HEALTH_FIELDS: ReadonlyArray<keyof ProfileHealth> = [
  "profileId", "provider", "type", "status", "reasonCode", "hint", "expiresAt", "remainingMs", "refreshable",
  "needsRelogin", "external", "ref", "fix", "source", "label",
];

/** Copy of `h` with its defined fields in the documented order. */
function inFieldOrder(h: ProfileHealth): ProfileHealth {
  const out: Record<string, unknown> = {};
  for (const k of HEALTH_FIELDS) if (h[k] !== undefined) out[k] = h[k];
  return out as unknown as ProfileHealth;
}

function profileLabel(
  id: string,
  p: Profile,
  health: ProfileHealth,
  input: Pick<StatusInput, "store" | "refs" | "secretDefaults" | "now">,
): string {
  let label: string;
  if (p.type === "oauth") {
    label = `${id}=OAuth${health.label !== id ? health.label.slice(id.length) : ""}${p.external ? ` [external:${p.external.source}]` : ""}`;
  } else {
    const ref = profileRef(p, input.secretDefaults);
    if (ref && "ref" in ref) {
      const r = input.refs.get(refKey(ref.ref));
      label = `${id}=${refDisplay(ref.ref)}${r && !r.ok ? (r.skipped ? " not resolved" : " unresolved") : ""}`;
    } else if (ref) label = `${id}=ref(invalid) unresolved`;
    else if (p.type === "api_key") label = `${id}=${hasText(p.key) ? mask(p.key.trim()) : "missing"}`;
    else label = `${id}=token:${hasText(p.token) ? mask(p.token.trim()) : "missing"}`;
  }
  const w = activeWindow(input.store.usageStats[id], normalizeAuthProviderId(p.provider), input.now);
  if (w) label += w.kind === "cooldown" ? ` [cooldown ${short(w.until - input.now)} ${w.reason}]` : ` [disabled:${w.reason} ${short(w.until - input.now)}]`;
  return label;
}

/** Normalised provider of an invalid entry, or "" when it has none. */
function invalidProvider(i: AuthStore["invalid"][number]): string {
  return i.provider ? normalizeAuthProviderId(i.provider) : "";
}

/** The full report (04 §5.3) and, with `check`, the verdict of 04 §6. */
export function computeStatus(input: StatusInput): StatusReport {
  const { config, store, now } = input;
  const chain: ModelChain = modelChain(config, input.agentId);
  const resolved = (raw: string) => {
    const r = resolveModelRef(raw, config, chain);
    return r ? refString(r) : raw;
  };
  // Auth lookups use the auth normalisation (02 §3: `volcengine-plan` → `volcengine`), so a model ref and the
  // profiles of the same provider meet under one id.
  const inUse = [...new Set(providersInUse(config, chain).map(normalizeAuthProviderId))].sort(compareStrings);
  const envVars = input.env.vars;

  // Providers listed (04 §2).
  const listed = new Set<string>();
  for (const p of Object.values(store.profiles)) listed.add(normalizeAuthProviderId(p.provider));
  for (const k of Object.keys(config.models?.providers ?? {})) listed.add(normalizeAuthProviderId(k));
  for (const r of allModelRefs(config, chain)) listed.add(normalizeAuthProviderId(r.provider));
  const envLists = new Map<string, EnvCredentialList>();
  const envListOf = (p: string) => {
    let l = envLists.get(p);
    if (!l) envLists.set(p, (l = envCredentialList(p, envVars)));
    return l;
  };
  for (const e of CATALOG) if (envListOf(e.id).entries.length > 0) listed.add(e.id);
  for (const p of inUse) listed.add(p);
  const providerIds = [...listed].sort(compareStrings);

  const warnings: Warning[] = [...input.extraWarnings, ...store.warnings, ...input.env.warnings];
  const invalidEnvSeen = new Set(input.env.warnings.filter((w) => w.code === "env.invalid_value").map((w) => w.message.split(" ")[0]));
  for (const p of providerIds) {
    for (const inv of envListOf(p).invalid) {
      if (invalidEnvSeen.has(inv.var)) continue;
      invalidEnvSeen.add(inv.var);
      warnings.push({ code: "env.invalid_value", message: `${inv.var}: a value is not used: ${inv.message}` });
    }
  }
  for (const f of input.legacyFiles) warnings.push({ code: "legacy_file", message: `${f} is not used; run jarvis doctor --fix to import` });

  const health = new Map<string, ProfileHealth>();
  for (const [id, p] of Object.entries(store.profiles)) health.set(id, profileHealth(id, p, input));

  const providers: ProviderReport[] = [];
  const missingInUse: string[] = [];
  const unresolvedRefs: StatusReport["auth"]["unresolvedRefs"] = [];
  const configUnresolved: CheckItem[] = [];
  const rollups: StatusReport["auth"]["oauth"]["providers"] = [];
  const withOAuth: string[] = [];
  for (const pid of providerIds) {
    const ids = storeProfileIds(store, pid);
    const order = resolveOrder(pid, store, config, now, undefined, input.secretDefaults);
    const envList = envListOf(pid);
    const cfgCred = configCredential(pid, config, envVars, input.secretDefaults);
    const counts = { oauth: 0, token: 0, apiKey: 0 };
    for (const id of ids) {
      const t = store.profiles[id]!.type;
      if (t === "oauth") counts.oauth++;
      else if (t === "token") counts.token++;
      else counts.apiKey++;
    }
    const orderedIds = listingOrder(ids, order.ids);
    const labels = orderedIds.map((id) => profileLabel(id, store.profiles[id]!, health.get(id)!, input));
    const firstEnv = envList.entries[0];
    let effective: ProviderReport["effective"];
    if (order.ids.length > 0) effective = { kind: "profiles", detail: store.path, profileId: order.ids[0] };
    else if (firstEnv) effective = { kind: "env", detail: firstEnv.mode === "token" ? "OAuth (env)" : mask(firstEnv.value) };
    else if (cfgCred?.present) effective = { kind: cfgCred.kind === "local" ? "local" : "config", detail: cfgCred.display };
    else effective = { kind: "missing" };
    const isInUse = inUse.includes(pid);
    const report: ProviderReport = { provider: pid, inUse: isInUse, effective, profiles: { count: ids.length, ...counts, labels } };
    if (firstEnv) {
      report.env = {
        value: mask(firstEnv.value),
        source: `env: ${firstEnv.var}`,
        origin: firstEnv.origin,
        keyCount: envList.entries.length,
        shadowed: effective.kind === "profiles",
      };
    }
    if (cfgCred) {
      const key = findProviderKey(config.models?.providers, pid);
      // 04 §5.4 names the apiKey field as the source even for a synthetic local key (it stands in for that field).
      report.config = {
        value: cfgCred.display,
        source: `jarvis.json: models.providers.${key ?? pid}.apiKey`,
        shadowed: effective.kind === "profiles" || effective.kind === "env",
      };
      const refOutcome = cfgCred.ref ? input.refs.get(refKey(cfgCred.ref)) : undefined;
      const unresolved = cfgCred.kind === "invalid_ref" || (refOutcome !== undefined && !refOutcome.ok && !refOutcome.skipped);
      if (unresolved) {
        const path = `models.providers.${key ?? pid}.apiKey`;
        if (cfgCred.ref) unresolvedRefs.push({ provider: pid, path, ref: cfgCred.ref, error: (refOutcome as { error: string }).error });
        if (isInUse && (effective.kind === "config" || effective.kind === "missing")) configUnresolved.push({ code: "unresolved_ref", provider: pid });
        if (effective.kind === "config") effective.kind = "missing";
      }
    }
    if (ids.length > 0 || firstEnv || cfgCred) providers.push(report);
    const hasCredential = order.ids.length > 0 || firstEnv !== undefined || (cfgCred?.present ?? false);
    if (isInUse && !hasCredential) missingInUse.push(pid);
    if (isInUse && report.effective.kind === "missing" && hasCredential && !missingInUse.includes(pid)) {
      // A config credential that cannot be resolved leaves the provider without a usable credential.
      if (order.ids.length === 0 && !firstEnv) missingInUse.push(pid);
    }

    const tokenish = ids.filter((id) => store.profiles[id]!.type !== "api_key");
    const nOAuth = tokenish.length + (firstEnv?.mode === "token" ? 1 : 0);
    if (nOAuth > 0) withOAuth.push(`${pid} (${nOAuth})`);
    const rollup: StatusReport["auth"]["oauth"]["providers"][number] = { provider: pid, status: "static", profiles: [...ids].sort(compareStrings) };
    if (ids.length === 0) rollup.status = firstEnv || cfgCred?.present ? "static" : "missing";
    else if (tokenish.length === 0) {
      rollup.status = ids.every((id) => health.get(id)!.status === "unresolved") ? "unresolved" : "static";
    } else {
      const sts = tokenish.map((id) => health.get(id)!.status);
      if (sts.some((s) => s === "expired" || s === "missing" || s === "unresolved")) rollup.status = "expired";
      else if (sts.includes("expiring")) rollup.status = "expiring";
      else rollup.status = sts.includes("ok") ? "ok" : "static";
      const exp = tokenish
        .map((id) => store.profiles[id]!.expires)
        .filter((e): e is number => {
          const s = expiryState(e, now).state;
          return s === "valid" || s === "expired";
        });
      if (exp.length) {
        rollup.expiresAt = Math.min(...exp);
        rollup.remainingMs = rollup.expiresAt - now;
      }
    }
    if (ids.length > 0 || firstEnv || cfgCred || isInUse || listed.has(pid)) rollups.push(rollup);
  }

  for (const [id, h] of health) {
    if (h.status !== "unresolved") continue;
    const p = store.profiles[id]!;
    const ref = profileRef(p, input.secretDefaults);
    if (ref && "ref" in ref) {
      const r = input.refs.get(refKey(ref.ref));
      unresolvedRefs.push({ profileId: id, provider: h.provider, ref: ref.ref, error: r && !r.ok ? r.error : "not resolved" });
    } else if (ref) {
      unresolvedRefs.push({ profileId: id, provider: h.provider, ref: ref.raw as SecretRef, error: ref.error });
    }
  }
  unresolvedRefs.sort((a, b) => compareStrings(a.provider, b.provider) || compareStrings(a.profileId ?? "", b.profileId ?? ""));

  const unusable: StatusReport["auth"]["unusableProfiles"] = [];
  for (const [id, p] of Object.entries(store.profiles)) {
    const provider = normalizeAuthProviderId(p.provider);
    const w = activeWindow(store.usageStats[id], provider, now);
    if (!w) continue;
    unusable.push({
      profileId: id,
      provider,
      kind: w.kind,
      reason: w.reason,
      ...(w.model ? { model: w.model } : {}),
      until: w.until,
      remainingMs: w.until - now,
    });
  }
  unusable.sort((a, b) => a.remainingMs - b.remainingMs || compareStrings(a.profileId, b.profileId));

  const profilesHealth = [...health.values()].sort((a, b) => compareStrings(a.provider, b.provider) || compareStrings(a.profileId, b.profileId));
  // Sorted by provider id, then profile id (04 §5.4); an entry without a usable provider sorts first.
  const invalidProfiles = [...store.invalid]
    .sort((a, b) => compareStrings(invalidProvider(a), invalidProvider(b)) || compareStrings(a.profileId, b.profileId))
    .map((i) => ({ profileId: i.profileId, reason: i.reason, detail: i.detail }));

  const report: StatusReport = {
    configPath: input.configPath,
    agentId: input.agentId,
    agentDir: input.agentDir,
    defaultModel: chain.defaultModel,
    resolvedDefault: resolved(chain.defaultModel),
    fallbacks: chain.fallbacks.map(resolved),
    imageModel: chain.imageModel === null ? null : resolved(chain.imageModel),
    imageFallbacks: chain.imageFallbacks.map(resolved),
    modelConfig: { defaultSource: chain.defaultSource, fallbacksSource: chain.fallbacksSource },
    aliases: Object.fromEntries(Object.entries(aliasMap(config)).map(([a, r]) => [a, resolved(r)])),
    allowed: Object.keys(config.agents?.defaults?.models ?? {}),
    auth: {
      storePath: store.path,
      storeStatus: store.status,
      shellEnvFallback: input.env.shellEnvFallback,
      providersWithOAuth: withOAuth,
      providersInUse: inUse,
      missingProvidersInUse: [...new Set(missingInUse)].sort(compareStrings),
      providers,
      unusableProfiles: unusable,
      invalidProfiles,
      unresolvedRefs,
      legacyFiles: input.legacyFiles,
      warnings,
      oauth: { warnAfterMs: input.warnWithinMs, profiles: profilesHealth, providers: rollups },
    },
  };
  if (input.check) report.check = checkVerdict(report, configUnresolved, input.warnWithinMs);
  return report;
}

/**
 * `--check` (04 §6): exit 1 for expired/missing token/oauth profiles, unresolved refs of providers in use (profiles,
 * then config credentials) and providers in use without credential; 2 for expiring / relogin_required; else 0.
 */
function checkVerdict(report: StatusReport, configUnresolved: CheckItem[], warnWithinMs: number): NonNullable<StatusReport["check"]> {
  const inUse = new Set(report.auth.providersInUse);
  const profs = report.auth.oauth.profiles;
  const failures: CheckItem[] = [];
  for (const h of profs) {
    if (h.type !== "api_key" && (h.status === "expired" || h.status === "missing")) {
      failures.push({ code: h.reasonCode ?? h.status, provider: h.provider, profileId: h.profileId });
    }
  }
  for (const h of profs) {
    if (h.status === "unresolved" && inUse.has(h.provider)) failures.push({ code: "unresolved_ref", provider: h.provider, profileId: h.profileId });
  }
  failures.push(...[...configUnresolved].sort((a, b) => compareStrings(a.provider, b.provider)));
  // A provider whose only credential is an unresolved config ref is reported once, as unresolved_ref.
  for (const p of report.auth.missingProvidersInUse) {
    if (!configUnresolved.some((c) => c.provider === p)) failures.push({ code: "no_credentials", provider: p });
  }
  const warnings: CheckItem[] = [];
  for (const h of profs) {
    if (h.type !== "api_key" && h.status === "expiring") {
      warnings.push({ code: h.reasonCode === "relogin_required" ? "relogin_required" : "expiring", provider: h.provider, profileId: h.profileId });
    }
  }
  const exitCode = failures.length > 0 ? 1 : warnings.length > 0 ? 2 : 0;
  return { exitCode, warnWithinMs, failures, warnings };
}

/** Item text `<profileId|provider> <code>` used by `Check:` lines and monitor messages. */
export function checkItemText(i: CheckItem): string {
  return `${i.profileId ?? i.provider} ${i.code}`;
}

/** Missing-auth hint of 04 §8. */
export function missingAuthHint(provider: string, stateEnvDisplay: string): string {
  if (provider === "anthropic") {
    return `Set ANTHROPIC_API_KEY in ${stateEnvDisplay} (recommended), or run \`claude setup-token\` on this gateway host and then \`jarvis models auth setup-token --provider anthropic\`.`;
  }
  if (provider === "openai-codex") {
    return "Run `jarvis models auth login --provider openai-codex` (or `jarvis models auth import --from codex`).";
  }
  return `Set ${envBase(provider)}_API_KEY in ${stateEnvDisplay}, or run \`jarvis models auth paste-token --provider ${provider}\`.`;
}

