/**
 * Durations on the command line and short human durations (spec README "Durations", 04 §3).
 */
import { UsageError } from "./errors.ts";

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export type DurationUnit = keyof typeof UNIT_MS;

/** Longest accepted duration: half the largest valid epoch-ms timestamp (8.64e15), about 137 000 years. */
const MAX_DURATION_MS = 4.32e15;

const WHOLE = /^(\d+(\.\d+)?(ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const BARE = /^\d+(\.\d+)?$/;

/**
 * Parse `<dur>`: one or more `<number><unit>` parts (units ms, s, m, h, d) summed and rounded to the nearest ms,
 * or a bare number in `defaultUnit`. Result must be > 0.
 * @returns milliseconds
 * @throws UsageError `invalid duration: <raw>` (exit 64)
 */
export function parseDuration(raw: string, defaultUnit: DurationUnit): number {
  let ms: number;
  if (BARE.test(raw)) ms = Number(raw) * UNIT_MS[defaultUnit];
  else if (WHOLE.test(raw)) {
    ms = 0;
    for (const m of raw.matchAll(PART)) ms += Number(m[1]) * UNIT_MS[m[2] as DurationUnit];
  } else throw new UsageError(`invalid duration: ${raw}`);
  ms = Math.round(ms);
  // Past MAX_DURATION_MS a duration added to now is no valid timestamp (03 §6: expires > 8.64e15 is invalid).
  if (!(ms > 0) || !(ms <= MAX_DURATION_MS)) throw new UsageError(`invalid duration: ${raw}`);
  return ms;
}

/**
 * `short(ms)` of spec 04 §3: `<1m`, `<m>m` below an hour, `<h>h` below 48 h, else `<d>d` (round half up).
 * Negative input is treated as its absolute value (callers phrase past times as "… ago").
 */
export function short(ms: number): string {
  const m = Math.round(Math.abs(ms) / 60_000);
  if (m === 0) return "<1m";
  if (m < 60) return `${m}m`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.round(h / 24)}d`;
}

/** ISO-8601 UTC without milliseconds (`2026-11-29T08:14:05Z`), the only absolute time format in text output. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `expires in <short>` for future times, `expired <short> ago` for past ones (04 §3). */
export function expiryText(expiresAt: number, now: number): string {
  const remaining = expiresAt - now;
  return remaining > 0 ? `expires in ${short(remaining)}` : `expired ${short(-remaining)} ago`;
}
