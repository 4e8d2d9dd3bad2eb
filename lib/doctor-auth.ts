/**
 * `jarvis doctor` auth and env checks (spec 09 §1.1 `auth.*`, `env.*`): computed through the `models status` model
 * (one resolver for status, probes, the gateway and doctor), so doctor and status never disagree.
 */
import { isoTime, short } from "./duration.ts";
import { profileRef } from "./eligibility.ts";
import { originLabel } from "./env.ts";
import { envCredentialList } from "./env-keys.ts";
import { authChoiceForEnvVar } from "./onboard.ts";
import { resolveOrder } from "./order.ts";
import { refDisplay, refKey, type SecretRef } from "./secret-ref.ts";
import { computeStatus, DEFAULT_WARN_WITHIN_MS, missingAuthHint, type StatusReport } from "./status.ts";
import { configCredential } from "./config-credential.ts";
import type { DoctorData, Finding } from "./doctor.ts";
import { configSecretRefSites } from "./secrets-audit.ts";

// --- auth health (through the status model, one resolver) ----------------------------------------------------------

/** The `models status` report for the doctor data (24 h warn window, refs as resolved by the edge). */
function statusFor(d: DoctorData): StatusReport {
  return computeStatus({
    configPath: d.config.path,
    agentId: d.agent.agentId,
    agentDir: d.agent.agentDir,
    config: d.cfg,
    env: d.env,
    store: d.store,
    refs: d.refs,
    secretDefaults: d.secretDefaults,
    legacyFiles: [],
    extraWarnings: [],
    now: d.now,
    warnWithinMs: DEFAULT_WARN_WITHIN_MS,
    check: false,
    showPath: d.show,
  });
}

function refText(ref: SecretRef | unknown): { display: string; alias: string } {
  const r = ref as Partial<SecretRef> | undefined;
  if (r && typeof r.source === "string" && typeof r.id === "string") return { display: refDisplay(r as SecretRef), alias: String(r.provider ?? "default") };
  return { display: "ref(invalid)", alias: "?" };
}

/** `auth.*` findings: expiry, relogin, missing credentials, unresolved refs, providers in use without credential, windows. */
export function checkAuth(d: DoctorData, report: StatusReport = statusFor(d)): Finding[] {
  const out: Finding[] = [];
  for (const h of report.auth.oauth.profiles) {
    const who = { profileId: h.profileId, provider: h.provider };
    if (h.needsRelogin || h.reasonCode === "relogin_required") {
      out.push({ ...who, code: "auth.relogin_required", severity: "error", message: `${h.profileId} needs a new login (its refresh token was rejected)`, fix: `jarvis models auth login --provider ${h.provider} --profile-id ${h.profileId}`, autoFix: false });
    } else if (h.status === "expired" && h.refreshable) {
      out.push({ ...who, code: "auth.expired_refreshable", severity: "warn", message: `${h.profileId} expired ${short(-(h.remainingMs ?? 0))} ago (refreshable)`, fix: `jarvis models auth refresh --profile-id ${h.profileId}`, autoFix: true, repair: { kind: "refresh", profileId: h.profileId } });
    } else if (h.status === "expired") {
      out.push({ ...who, code: "auth.expired", severity: "error", message: `${h.profileId} expired ${short(-(h.remainingMs ?? 0))} ago`, ...(h.fix ? { fix: h.fix } : {}), autoFix: false });
    } else if (h.status === "expiring") {
      out.push({ ...who, code: "auth.expiring", severity: "warn", message: `${h.profileId} expires in ${short(h.remainingMs ?? 0)}`, ...(h.fix ? { fix: h.fix } : {}), autoFix: false });
    } else if (h.status === "missing" && h.reasonCode === "missing_credential") {
      out.push({ ...who, code: "auth.missing_credential", severity: "error", message: `${h.profileId} has no credential (no ${h.type === "api_key" ? "key or keyRef" : h.type === "token" ? "token or tokenRef" : "access or refresh token"})`, fix: `re-add it (jarvis models auth paste-token --provider ${h.provider} --profile-id ${h.profileId}) or remove it (jarvis models auth remove ${h.profileId})`, autoFix: false });
    }
  }
  for (const u of report.auth.unresolvedRefs) {
    // Config refs (status lists only models.providers.*.apiKey) are reported below from the audit's enumeration.
    if (!u.profileId) continue;
    const { display, alias } = refText(u.ref);
    out.push({
      code: "auth.unresolved_ref",
      severity: "error",
      message: `${u.profileId}: ${display} (secret provider "${alias}") cannot be resolved: ${u.error}`,
      provider: u.provider,
      profileId: u.profileId,
      fix: `make ${display} resolvable, or store the credential again (jarvis models auth paste-token --provider ${u.provider} --profile-id ${u.profileId})`,
      autoFix: false,
    });
  }
  out.push(...checkConfigRefs(d));
  for (const p of report.auth.missingProvidersInUse) {
    out.push({ code: "auth.provider_missing", severity: "error", message: `${p} is in use but has no credential`, provider: p, fix: missingAuthHint(p, d.stateEnvDisplay), autoFix: false });
  }
  for (const w of report.auth.unusableProfiles) {
    const until = isoTime(w.until);
    const verify = `jarvis models status --probe --probe-profile ${w.profileId}`;
    if (w.kind === "cooldown") {
      out.push({ code: "auth.cooldown", severity: "info", message: `${w.profileId} is in cooldown (${w.reason}${w.model ? `, model ${w.model}` : ""}) until ${until}`, profileId: w.profileId, provider: w.provider, fix: `wait until ${until}, or verify now: ${verify}`, autoFix: false });
    } else {
      out.push({ code: "auth.disabled", severity: "warn", message: `${w.profileId} is disabled (${w.reason}) until ${until}`, profileId: w.profileId, provider: w.provider, fix: `top up credits or fix the key, then verify: ${verify}`, autoFix: false });
    }
  }
  return out;
}

/**
 * `auth.unresolved_ref` for config refs (09 §1.1 "a profile or config ref"): every site of 06 §1 — provider `apiKey`
 * and `headers.<name>`, `gateway.auth.token`, `auth.oauth.<id>.clientSecret` — enumerated exactly as `secrets audit`
 * does; a skipped exec ref (`--skip-exec`) is not a finding. Names the config path, the ref, its alias and the cause.
 */
function checkConfigRefs(d: DoctorData): Finding[] {
  const out: Finding[] = [];
  for (const site of configSecretRefSites(d.config.exists ? d.config.raw : null, d.config.path, d.secretDefaults)) {
    const who = { path: d.config.path, ...(site.provider ? { provider: site.provider } : {}) };
    if ("error" in site) {
      out.push({ code: "auth.unresolved_ref", severity: "error", message: `${site.jsonPath}: ref(invalid) cannot be resolved: ${site.error}`, ...who, fix: `fix ${site.jsonPath}`, autoFix: false });
      continue;
    }
    const r = d.refs.get(refKey(site.ref));
    if (r === undefined || r.ok || r.skipped) continue;
    const { display, alias } = refText(site.ref);
    out.push({
      code: "auth.unresolved_ref",
      severity: "error",
      message: `${site.jsonPath}: ${display} (secret provider "${alias}") cannot be resolved: ${r.error}`,
      ...who,
      fix: `make ${display} resolvable, or fix ${site.jsonPath}`,
      autoFix: false,
    });
  }
  return out;
}

// --- env -----------------------------------------------------------------------------------------------------------

const ORIGIN_TEXT: Record<string, string> = { process: "this shell", "cwd-dotenv": "./.env in the current directory" };
const SHELL_ONLY = new Set(["process", "cwd-dotenv"]);

/**
 * The env var a provider in use depends on that only this shell (process env or `./.env`) provides, or undefined
 * when a daemon would find a credential too (10 §5): its env credential when nothing else exists, or the env
 * SecretRef of every usable profile (or of the config credential) when that variable is not in `~/.jarvis/.env` or
 * the config `env` block.
 */
function shellOnlyVar(d: DoctorData, pr: StatusReport["auth"]["providers"][number]): { var: string; origin: string } | undefined {
  if (!pr.inUse) return undefined;
  const shellOnly = (name: string) => {
    const e = d.env.vars.get(name);
    return e && SHELL_ONLY.has(e.origin) && !d.daemonVars.has(name) ? { var: name, origin: e.origin } : undefined;
  };
  const envRefVar = (ref: SecretRef | undefined) => (ref?.source === "env" ? shellOnly(ref.id) : undefined);
  if (pr.effective.kind === "env") {
    if (envCredentialList(pr.provider, d.daemonVars).entries.length > 0) return undefined;
    const cfg = configCredential(pr.provider, d.cfg, d.daemonVars, d.secretDefaults);
    if (cfg?.present && cfg.kind !== "marker" && !envRefVar(cfg.ref)) return undefined;
    const first = envCredentialList(pr.provider, d.env.vars).entries[0];
    return first && SHELL_ONLY.has(first.origin) ? { var: first.var, origin: first.origin } : undefined;
  }
  if (pr.effective.kind === "config") return envRefVar(configCredential(pr.provider, d.cfg, d.env.vars, d.secretDefaults)?.ref);
  if (pr.effective.kind !== "profiles") return undefined;
  const vars = resolveOrder(pr.provider, d.store, d.cfg, d.now, undefined, d.secretDefaults).ids.map((id) => {
    const r = profileRef(d.store.profiles[id]!, d.secretDefaults);
    return r && "ref" in r ? envRefVar(r.ref) : undefined;
  });
  return vars.length > 0 && vars.every((v) => v !== undefined) ? vars[0] : undefined;
}

/** `env.process_only`, `env.shadowed`, `env.invalid_value`. */
export function checkEnv(d: DoctorData, report: StatusReport = statusFor(d)): Finding[] {
  const out: Finding[] = [];
  for (const pr of report.auth.providers) {
    const only = shellOnlyVar(d, pr);
    if (only) {
      const choice = authChoiceForEnvVar(pr.provider, only.var);
      out.push({
        code: "env.process_only",
        severity: "warn",
        message: `${pr.provider}: ${only.var} comes only from ${ORIGIN_TEXT[only.origin] ?? only.origin}; a daemon will not see it`,
        provider: pr.provider,
        fix: choice ? `jarvis onboard --non-interactive --auth-choice ${choice} --store env` : `add ${only.var} to ${d.stateEnvDisplay}`,
        autoFix: false,
      });
    }
    const first = envCredentialList(pr.provider, d.env.vars).entries[0];
    if (!first) continue;
    if (pr.effective.kind === "profiles" && pr.effective.profileId) {
      const id = pr.effective.profileId;
      const p = d.store.profiles[id];
      if (!p || p.type === "oauth") continue;
      const ref = profileRef(p, d.secretDefaults);
      let value: string | undefined;
      if (ref && "ref" in ref) {
        const r = d.refs.get(refKey(ref.ref));
        value = r?.ok ? r.value : undefined;
      } else {
        const v = p.type === "api_key" ? p.key : p.token;
        value = typeof v === "string" ? v.trim() : undefined;
      }
      if (value === undefined || value === first.value) continue;
      out.push({
        code: "env.shadowed",
        severity: "warn",
        message: `${pr.provider}: ${first.var} (${originLabel(first.origin, d.stateEnvDisplay)}) differs from auth profile ${id}, which wins over it`,
        provider: pr.provider,
        profileId: id,
        fix: `update the profile (jarvis models auth paste-token --provider ${pr.provider} --profile-id ${id}) or remove it (jarvis models auth remove ${id})`,
        autoFix: false,
      });
    }
  }
  for (const w of report.auth.warnings) {
    if (w.code !== "env.invalid_value") continue;
    out.push({ code: "env.invalid_value", severity: "error", message: w.message, fix: "fix the value (paste it again without quotes, spaces or curly characters)", autoFix: false });
  }
  return out;
}
