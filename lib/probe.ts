/**
 * `models status --probe` (spec 04 §7, D18): real, minimal requests with each credential through the runtime, so a
 * probe predicts what the gateway will do. Results are recorded like real calls (profile targets only).
 */
import type { ChatRequest } from "./adapters.ts";
import { activeWindow, isInCooldown, isRecordableReason } from "./cooldown.ts";
import { isoTime } from "./duration.ts";
import { profileEligibility } from "./eligibility.ts";
import { resolveOrder, storeProfileIds, listingOrder } from "./order.ts";
import type { FailureReason } from "./classify.ts";
import {
  attemptOnce,
  attemptWithRotation,
  configCredentialValue,
  envCredentials,
  extraHeaders,
  probeModelFor,
  profileCredential,
  providerPlan,
  recordOutcome,
  type AttemptResult,
  type RuntimeContext,
} from "./runtime.ts";
import type { AuthStore, Profile } from "./store.ts";

export interface ProbeOptions {
  provider: string | null;
  profileIds: string[];
  timeoutMs: number;
  concurrency: number;
  maxTokens: number;
}

export interface ProbeResult {
  provider: string;
  model?: string;
  profileId?: string;
  label: string;
  source: "profile" | "env" | "config";
  mode: string;
  status: "ok" | "auth" | "rate_limit" | "billing" | "timeout" | "format" | "unknown" | "no_model";
  reasonCode?: string;
  error?: string;
  latencyMs?: number;
  httpStatus?: number;
  keysTried?: number;
}

export interface ProbeReport {
  startedAt: number;
  finishedAt: number;
  durationMs: number;
  totalTargets: number;
  options: ProbeOptions;
  results: ProbeResult[];
}

/** Probe status of a classified reason (04 §7.3). */
function probeStatus(reason: FailureReason): ProbeResult["status"] {
  switch (reason) {
    case "auth":
    case "auth_permanent":
      return "auth";
    case "rate_limit":
    case "overloaded":
      return "rate_limit";
    case "billing":
      return "billing";
    case "timeout":
      return "timeout";
    case "format":
    case "context_overflow":
      return "format";
    default:
      return "unknown";
  }
}

const INELIGIBLE_TEXT = "Auth profile credentials are missing or expired.";

function ineligible(code: string, detail: string): string {
  return `${INELIGIBLE_TEXT}\n↳ Auth reason [${code}]: ${detail}`;
}

/** Human detail for an ineligible profile (line 2 of the 04 §7.1 text); the eligibility hint wins when present. */
function ineligibleDetail(code: string, p: Profile, hint: string | undefined): string {
  if (hint) return hint;
  const what = p.type === "api_key" ? "key" : p.type === "token" ? "token" : "access or refresh token";
  switch (code) {
    case "missing_credential":
      return `the profile has no ${what} (and no ref)`;
    case "expired":
      return typeof p.expires === "number" ? `the ${p.type === "oauth" ? "access token expired (no refresh token)" : "token expired"} at ${isoTime(p.expires)}` : "expired";
    case "invalid_expires":
      return "expires is not an epoch-milliseconds timestamp";
    case "relogin_required":
      return "the refresh token was rejected; log in again";
    case "provider_mismatch":
      return `the profile belongs to provider ${p.provider}`;
    case "mode_mismatch":
      return "config auth.profiles names another provider or mode for this profile";
    default:
      return code;
  }
}

function fromAttempt(base: Omit<ProbeResult, "status">, r: AttemptResult): ProbeResult {
  if (r.ok) return { ...base, status: "ok", latencyMs: r.latencyMs, httpStatus: r.httpStatus };
  const out: ProbeResult = { ...base, status: probeStatus(r.failure.reason), reasonCode: r.failure.reason, error: r.failure.message, latencyMs: r.latencyMs };
  if (r.httpStatus !== undefined) out.httpStatus = r.httpStatus;
  return out;
}

/**
 * Probe one provider: its targets run one at a time in resolved order (04 §7.1–§7.2).
 * @param onCall called after each real call (progress)
 */
async function probeProvider(
  provider: string,
  store: AuthStore,
  rt: RuntimeContext,
  opts: ProbeOptions,
  now: () => number,
  onCall: () => void,
): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  const ids = storeProfileIds(store, provider);
  const named = opts.profileIds.length > 0;
  const modelId = probeModelFor(provider, rt.config, rt.agentId);
  const model = modelId ? `${provider}/${modelId}` : undefined;
  const plan = providerPlan(provider, rt.config);
  const req: ChatRequest = { messages: [{ role: "user", content: "Reply with OK." }], maxTokens: opts.maxTokens };
  const target = plan.ok && modelId ? { provider, api: plan.api, baseUrl: plan.baseUrl, model: modelId, extraHeaders: await extraHeaders(provider, rt) } : undefined;
  const notCalled = (base: Omit<ProbeResult, "status">, reasonCode: string, error: string): ProbeResult => ({ ...base, status: reasonCode === "no_model" ? "no_model" : "unknown", reasonCode, error });
  const gate = (base: Omit<ProbeResult, "status">): ProbeResult | undefined => {
    if (!plan.ok) return notCalled(base, "no_adapter", plan.error);
    if (!modelId) return notCalled(base, "no_model", "No model available for probe");
    return undefined;
  };

  if (ids.length > 0) {
    const order = resolveOrder(provider, store, rt.config, now(), modelId, rt.secretDefaults);
    const sorted = listingOrder(ids, order.ids);
    const targets = named ? sorted.filter((id) => opts.profileIds.includes(id)) : sorted;
    for (const id of targets) {
      const p = store.profiles[id]!;
      const base: Omit<ProbeResult, "status"> = { provider, ...(model ? { model } : {}), profileId: id, label: id, source: "profile", mode: p.type };
      const gated = gate(base);
      if (gated) {
        results.push(gated);
        continue;
      }
      if (order.excluded.includes(id)) {
        results.push(notCalled(base, "excluded_by_auth_order", "Excluded by auth.order for this provider."));
        continue;
      }
      const e = profileEligibility(id, provider, store, rt.config, now(), rt.secretDefaults);
      if (!e.eligible) {
        const code = ["missing_credential", "invalid_expires", "expired", "relogin_required"].includes(e.reasonCode) ? e.reasonCode : "ineligible_profile";
        results.push(notCalled(base, code, ineligible(code, ineligibleDetail(e.reasonCode, p, e.hint))));
        continue;
      }
      const stats = store.usageStats[id];
      if (!named && isInCooldown(stats, provider, now(), modelId)) {
        const w = activeWindow(stats, provider, now())!;
        results.push(notCalled(base, w.kind === "disabled" ? "disabled" : "cooldown", `In cooldown (${w.reason}) until ${isoTime(w.until)}; name it with --probe-profile to test it now.`));
        continue;
      }
      const cred = await profileCredential(p, stats, rt, now(), id);
      if (!cred.ok) {
        results.push(notCalled(base, cred.reasonCode, ineligible(cred.reasonCode, cred.error)));
        continue;
      }
      const r = await attemptOnce(target!, cred.cred, req, opts.timeoutMs);
      onCall();
      results.push(fromAttempt(base, r));
      if (r.ok) await recordOutcome(rt, id, provider, { ok: true }, now());
      else if (isRecordableReason(r.failure.reason)) {
        await recordOutcome(rt, id, provider, { ok: false, reason: r.failure.reason, model: modelId }, now());
      }
    }
    return results;
  }
  if (named) return results;
  const env = envCredentials(provider, rt);
  if (env.length > 0) {
    const base: Omit<ProbeResult, "status"> = { provider, ...(model ? { model } : {}), label: "env", source: "env", mode: env[0]!.mode };
    const gated = gate(base);
    if (gated) return [gated];
    const { result, keysTried } = await attemptWithRotation(target!, env, req, opts.timeoutMs);
    onCall();
    return [{ ...fromAttempt(base, result), keysTried }];
  }
  const cfg = await configCredentialValue(provider, rt);
  if (cfg) {
    const base: Omit<ProbeResult, "status"> = { provider, ...(model ? { model } : {}), label: "config", source: "config", mode: "api_key" };
    const gated = gate(base);
    if (gated) return [gated];
    if (!cfg.ok) return [notCalled(base, cfg.reasonCode, ineligible(cfg.reasonCode, cfg.error))];
    const r = await attemptOnce(target!, cfg.cred, req, opts.timeoutMs);
    onCall();
    return [fromAttempt(base, r)];
  }
  return results;
}

/**
 * Run probes over `providers` (already sorted), at most `concurrency` providers at once.
 * @param now clock (epoch ms)
 */
export async function runProbes(
  providers: string[],
  store: AuthStore,
  rt: RuntimeContext,
  opts: ProbeOptions,
  now: () => number = Date.now,
  progress?: (done: number) => void,
): Promise<ProbeReport> {
  const startedAt = now();
  const list = opts.provider ? providers.filter((p) => p === opts.provider) : providers;
  if (opts.provider && !list.includes(opts.provider)) list.push(opts.provider);
  const out: ProbeResult[][] = new Array(list.length);
  let next = 0;
  let calls = 0;
  const onCall = () => progress?.(++calls);
  const worker = async () => {
    while (next < list.length) {
      const i = next++;
      out[i] = await probeProvider(list[i]!, store, rt, opts, now, onCall);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, list.length)) }, worker));
  const results = out.flat();
  const finishedAt = now();
  return {
    startedAt,
    finishedAt,
    durationMs: finishedAt - startedAt,
    totalTargets: results.filter((r) => r.latencyMs !== undefined).length,
    options: opts,
    results,
  };
}

/** Text table of 04 §7.4: columns Model, Profile, Status; `↳` error lines; footer. */
export function renderProbeText(report: ProbeReport): string[] {
  const rows = report.results.map((r) => {
    const why = r.reasonCode && r.reasonCode !== r.status ? ` (${r.reasonCode})` : "";
    const status = r.latencyMs !== undefined ? `${r.status} · ${(r.latencyMs / 1000).toFixed(1)}s` : r.status + why;
    return { cells: [r.model ?? "-", r.profileId ?? r.label, status], error: r.error ? r.error.split("\n")[0] : undefined };
  });
  const head = ["Model", "Profile", "Status"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)));
  const fmt = (c: string[]) => c.map((x, i) => (i < c.length - 1 ? x.padEnd(w[i]!) : x)).join("  ");
  const lines = ["Auth probes", fmt(head)];
  for (const r of rows) {
    lines.push(fmt(r.cells));
    if (r.error) lines.push(`  ↳ ${r.error}`);
  }
  lines.push(`Probed ${report.totalTargets} targets in ${(report.durationMs / 1000).toFixed(1)}s`);
  return lines;
}
