/**
 * Cooldown and disable math (spec 03 §7, D19): backoff schedules, active windows, and the pure usageStats
 * transitions behind `markFailure` / `markSuccess` (03 §5).
 */
import type { JarvisConfig } from "./config.ts";
import { isoTime } from "./duration.ts";
import { normalizeAuthProviderId } from "./providers.ts";
import type { UsageStats } from "./store.ts";

export interface CooldownSettings {
  billingBackoffHours: number;
  billingBackoffHoursByProvider: Record<string, number>;
  billingMaxHours: number;
  failureWindowHours: number;
  authPermanentBackoffMinutes: number;
  authPermanentMaxMinutes: number;
}

const H = 3_600_000;
const MIN = 60_000;

const isPositive = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v > 0;
const positive = (v: unknown, d: number) => (isPositive(v) ? v : d);

/**
 * Settings from config `auth.cooldowns`; values that are not finite > 0 fall back to the defaults (01 §3.1).
 * `billingBackoffHoursByProvider` keys are stored normalised: like every provider-keyed map, the first key whose
 * normalised form equals the provider wins (02 §3).
 */
export function cooldownSettings(config: JarvisConfig): CooldownSettings {
  const c = (config.auth?.cooldowns ?? {}) as Record<string, unknown>;
  const byProvider: Record<string, number> = {};
  const raw = c.billingBackoffHoursByProvider;
  if (raw && typeof raw === "object") {
    const seen = new Set<string>();
    for (const [p, v] of Object.entries(raw)) {
      const id = normalizeAuthProviderId(p);
      if (seen.has(id)) continue;
      seen.add(id);
      if (isPositive(v)) byProvider[id] = v;
    }
  }
  return {
    billingBackoffHours: positive(c.billingBackoffHours, 5),
    billingBackoffHoursByProvider: byProvider,
    billingMaxHours: positive(c.billingMaxHours, 24),
    failureWindowHours: positive(c.failureWindowHours, 24),
    authPermanentBackoffMinutes: positive(c.authPermanentBackoffMinutes, 10),
    authPermanentMaxMinutes: positive(c.authPermanentMaxMinutes, 60),
  };
}

/** Transient cooldown for the n-th consecutive error: 1 m, 5 m, 25 m, then 60 m (ms). */
export function cooldownMs(n: number): number {
  return Math.min(H, MIN * 5 ** (Math.min(Math.max(1, n), 4) - 1));
}

/**
 * Disable window for the c-th failure of a `billing` / `auth_permanent` reason (ms):
 * billing B h doubling to M h (5 h, 10 h, 20 h, 24 h); auth_permanent 10 min doubling to 60 min.
 */
export function disableMs(c: number, reason: "billing" | "auth_permanent", provider: string, s: CooldownSettings): number {
  const step = 2 ** (Math.min(Math.max(1, c), 11) - 1);
  if (reason === "auth_permanent") return Math.min(s.authPermanentMaxMinutes * MIN, s.authPermanentBackoffMinutes * MIN * step);
  const base = s.billingBackoffHoursByProvider[provider] ?? s.billingBackoffHours;
  return Math.min(s.billingMaxHours * H, base * H * step);
}

/** Latest end of the cooldown/disable windows (finite values > 0), or undefined. Ended windows are included. */
export function unusableUntil(s: UsageStats | undefined): number | undefined {
  const a = isPositive(s?.cooldownUntil) ? s!.cooldownUntil! : undefined;
  const b = isPositive(s?.disabledUntil) ? s!.disabledUntil! : undefined;
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}

/** Providers that never cool down (D19). */
export function neverCoolsDown(provider: string): boolean {
  return provider === "openrouter";
}

/**
 * Is the profile in cooldown for `model` at `now` (03 §7 "In cooldown")?
 * Disabled always counts; a model-scoped rate-limit window only counts for that model.
 */
export function isInCooldown(stats: UsageStats | undefined, provider: string, now: number, model?: string): boolean {
  if (!stats || neverCoolsDown(provider)) return false;
  if ((stats.disabledUntil ?? 0) > now) return true;
  if ((stats.cooldownUntil ?? 0) > now) return !(stats.cooldownModel && model !== undefined && stats.cooldownModel !== model);
  return false;
}

/** The active window to report for a profile (disable wins over cooldown), or undefined. */
export function activeWindow(
  stats: UsageStats | undefined,
  provider: string,
  now: number,
): { kind: "cooldown" | "disabled"; reason: string; until: number; model?: string } | undefined {
  if (!stats || neverCoolsDown(provider)) return undefined;
  if ((stats.disabledUntil ?? 0) > now) return { kind: "disabled", reason: stats.disabledReason ?? "unknown", until: stats.disabledUntil! };
  if ((stats.cooldownUntil ?? 0) > now) {
    return { kind: "cooldown", reason: stats.cooldownReason ?? "unknown", until: stats.cooldownUntil!, model: stats.cooldownModel };
  }
  return undefined;
}

/** Failure reasons that are recorded on a profile (03 §7); timeouts, format errors and the like never are. */
const RECORDABLE_REASONS: readonly string[] = ["auth", "auth_permanent", "billing", "rate_limit", "overloaded", "unknown"];

/** True when a failure with this classified reason is recorded on the profile (03 §7 `markFailure` step 1). */
export function isRecordableReason(reason: string): boolean {
  return RECORDABLE_REASONS.includes(reason);
}

/**
 * Next usageStats after a failure (03 §7 `markFailure` steps 2–5), pure. The caller handles step 1 (profile gone,
 * openrouter, non-recordable reason) and the log line.
 */
export function nextStatsAfterFailure(
  prev: UsageStats | undefined,
  reason: string,
  provider: string,
  now: number,
  s: CooldownSettings,
  model?: string,
): UsageStats {
  const e = prev ?? {};
  const until = unusableUntil(e);
  const reset =
    (e.lastFailureAt !== undefined && now - e.lastFailureAt > s.failureWindowHours * H) || (until !== undefined && now >= until);
  const next: UsageStats = { ...e };
  next.errorCount = (reset ? 0 : (e.errorCount ?? 0)) + 1;
  const counts = reset ? {} : { ...(e.failureCounts ?? {}) };
  counts[reason] = (counts[reason] ?? 0) + 1;
  next.failureCounts = counts;
  next.lastFailureAt = now;
  // Ended windows are dropped when the stats are written again.
  if (!((e.cooldownUntil ?? 0) > now)) {
    delete next.cooldownUntil;
    delete next.cooldownReason;
    delete next.cooldownModel;
  }
  if (!((e.disabledUntil ?? 0) > now)) {
    delete next.disabledUntil;
    delete next.disabledReason;
  }
  if (reason === "billing" || reason === "auth_permanent") {
    if (!((e.disabledUntil ?? 0) > now)) next.disabledUntil = now + disableMs(counts[reason]!, reason, provider, s);
    next.disabledReason = reason;
  } else {
    const active = (e.cooldownUntil ?? 0) > now;
    if (!active) next.cooldownUntil = now + cooldownMs(next.errorCount);
    next.cooldownReason = reason;
    if (reason === "rate_limit" && model !== undefined && !active && !((e.disabledUntil ?? 0) > now)) next.cooldownModel = model;
    else if (active && e.cooldownModel && e.cooldownModel !== model) delete next.cooldownModel;
    else if (!active) delete next.cooldownModel;
  }
  return next;
}

/** Next usageStats after a success (03 §5 `markSuccess`): lastUsed = now, counters and windows cleared. */
export function nextStatsAfterSuccess(prev: UsageStats | undefined, now: number): UsageStats {
  const next: UsageStats = { ...(prev ?? {}), lastUsed: now, errorCount: 0 };
  for (const k of ["cooldownUntil", "cooldownReason", "cooldownModel", "disabledUntil", "disabledReason", "failureCounts"] as const) {
    delete next[k];
  }
  return next;
}

/**
 * The log line of `markFailure` (03 §7 step 6): `auth profile <id>: <reason> → cooldown until <ISO> (error #n)`.
 * @param stats the stats after the failure
 */
export function failureLogLine(profileId: string, reason: string, stats: UsageStats): string {
  const until = Math.max(stats.cooldownUntil ?? 0, stats.disabledUntil ?? 0);
  return `auth profile ${profileId}: ${reason} → cooldown until ${isoTime(until)} (error #${stats.errorCount})`;
}
