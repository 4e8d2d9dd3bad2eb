// Cooldown and disable math (spec 03 §7), including the worked table.
import { describe, expect, test } from "bun:test";
import {
  activeWindow,
  cooldownMs,
  cooldownSettings,
  disableMs,
  isInCooldown,
  nextStatsAfterFailure,
  nextStatsAfterSuccess,
  unusableUntil,
} from "../lib/cooldown.ts";
import type { UsageStats } from "../lib/store.ts";

const S = 1000;
const MIN = 60_000;
const H = 3_600_000;
const defaults = cooldownSettings({});

describe("schedules", () => {
  const cool: Array<[n: number, ms: number]> = [
    [0, MIN],
    [1, MIN],
    [2, 5 * MIN],
    [3, 25 * MIN],
    [4, 60 * MIN],
    [5, 60 * MIN],
    [100, 60 * MIN],
  ];
  test.each(cool)("cooldownMs(%p) = %p", (n, ms) => {
    expect(cooldownMs(n)).toBe(ms);
  });

  const billing: Array<[c: number, ms: number]> = [
    [0, 18_000_000],
    [1, 18_000_000],
    [2, 36_000_000],
    [3, 72_000_000],
    [4, 86_400_000],
    [11, 86_400_000],
    [50, 86_400_000],
  ];
  test.each(billing)("disableMs(%p, billing) = %p", (c, ms) => {
    expect(disableMs(c, "billing", "anthropic", defaults)).toBe(ms);
  });

  const authPermanent: Array<[c: number, ms: number]> = [
    [1, 600_000],
    [2, 1_200_000],
    [3, 2_400_000],
    [4, 3_600_000],
    [9, 3_600_000],
  ];
  test.each(authPermanent)("disableMs(%p, auth_permanent) = %p", (c, ms) => {
    expect(disableMs(c, "auth_permanent", "anthropic", defaults)).toBe(ms);
  });

  test("config overrides; non-positive or non-finite values fall back to the defaults", () => {
    const s = cooldownSettings({
      auth: {
        cooldowns: {
          billingBackoffHours: 1,
          billingMaxHours: 3,
          failureWindowHours: -1,
          authPermanentBackoffMinutes: Infinity,
          authPermanentMaxMinutes: 0,
          billingBackoffHoursByProvider: { Anthropic: 2, openai: -3 },
        },
      },
    });
    expect(s.failureWindowHours).toBe(24);
    expect(disableMs(1, "billing", "groq", s)).toBe(1 * H);
    expect(disableMs(3, "billing", "groq", s)).toBe(3 * H);
    expect(disableMs(1, "billing", "openai", s)).toBe(1 * H);
    // Provider keys are matched after normalisation (02 §3 map lookups).
    expect(disableMs(1, "billing", "anthropic", s)).toBe(2 * H);
    expect(disableMs(1, "auth_permanent", "groq", s)).toBe(10 * MIN);
    expect(disableMs(9, "auth_permanent", "groq", s)).toBe(60 * MIN);
  });

  test("unusableUntil is the max of finite positive window ends", () => {
    expect(unusableUntil(undefined)).toBeUndefined();
    expect(unusableUntil({})).toBeUndefined();
    expect(unusableUntil({ cooldownUntil: 5, disabledUntil: 9 })).toBe(9);
    expect(unusableUntil({ cooldownUntil: 5, disabledUntil: 0 })).toBe(5);
    expect(unusableUntil({ cooldownUntil: NaN })).toBeUndefined();
  });
});

describe("markFailure worked table (provider anthropic, W = 24 h)", () => {
  const T0 = 1_795_900_000_000;
  const at = (sec: number) => T0 + sec * S;
  const fail = (prev: UsageStats | undefined, reason: string, sec: number, model?: string, s = defaults) =>
    nextStatsAfterFailure(prev, reason, "anthropic", at(sec), s, model);

  test("the whole sequence", () => {
    // t=0 rate_limit (model claude-opus-4-6): errorCount 1, cooldownUntil t+60, model-scoped
    const s0 = fail(undefined, "rate_limit", 0, "claude-opus-4-6");
    expect(s0).toEqual({
      errorCount: 1,
      failureCounts: { rate_limit: 1 },
      lastFailureAt: at(0),
      cooldownUntil: at(60),
      cooldownReason: "rate_limit",
      cooldownModel: "claude-opus-4-6",
    });
    // t=20 rate_limit, same model: errorCount 2, still until 60
    const s20 = fail(s0, "rate_limit", 20, "claude-opus-4-6");
    expect(s20.errorCount).toBe(2);
    expect(s20.cooldownUntil).toBe(at(60));
    expect(s20.cooldownModel).toBe("claude-opus-4-6");
    expect(s20.failureCounts).toEqual({ rate_limit: 2 });
    // t=90 rate_limit: window ended at 60 → reset; errorCount 1, until 150
    const s90 = fail(s20, "rate_limit", 90);
    expect(s90.errorCount).toBe(1);
    expect(s90.failureCounts).toEqual({ rate_limit: 1 });
    expect(s90.cooldownUntil).toBe(at(150));
    expect(s90.cooldownModel).toBeUndefined();
    // t=100 billing: cooldown active → errorCount 2, counts {rate_limit:1, billing:1}, disabledUntil 100 + 5 h
    const s100 = fail(s90, "billing", 100);
    expect(s100.errorCount).toBe(2);
    expect(s100.failureCounts).toEqual({ rate_limit: 1, billing: 1 });
    expect(s100.disabledUntil).toBe(at(100) + 5 * H);
    expect(s100.disabledReason).toBe("billing");
    expect(s100.cooldownUntil).toBe(at(150));
    // t=200 auth: disable active → no reset; errorCount 3, cooldownUntil 200 + 25 m
    const s200 = fail(s100, "auth", 200);
    expect(s200.errorCount).toBe(3);
    expect(s200.cooldownUntil).toBe(at(200) + 25 * MIN);
    expect(s200.cooldownReason).toBe("auth");
    expect(s200.disabledUntil).toBe(at(100) + 5 * H);
    // t=100+5h+1 billing: all windows ended → reset; errorCount 1, disabledUntil now + 5 h
    const tEnd = 100 + 5 * 3600 + 1;
    const sEnd = fail(s200, "billing", tEnd);
    expect(sEnd.errorCount).toBe(1);
    expect(sEnd.failureCounts).toEqual({ billing: 1 });
    expect(sEnd.disabledUntil).toBe(at(tEnd) + 5 * H);
    // ended windows are dropped when the stats are written again
    expect(sEnd.cooldownUntil).toBeUndefined();
    expect(sEnd.cooldownReason).toBeUndefined();
    // a day later, success: all windows and counters cleared, lastUsed = now
    const tOk = tEnd + 24 * 3600;
    const ok = nextStatsAfterSuccess({ ...sEnd, lastUsed: 7 }, at(tOk));
    expect(ok).toEqual({ lastUsed: at(tOk), errorCount: 0, lastFailureAt: at(tEnd) });
  });

  test("billingBackoffHoursByProvider {anthropic: 2} makes the billing step at t=100 two hours", () => {
    const s = cooldownSettings({ auth: { cooldowns: { billingBackoffHoursByProvider: { anthropic: 2 } } } });
    const s0 = fail(undefined, "rate_limit", 0, "claude-opus-4-6", s);
    const s90 = fail(fail(s0, "rate_limit", 20, "claude-opus-4-6", s), "rate_limit", 90, undefined, s);
    expect(fail(s90, "billing", 100, undefined, s).disabledUntil).toBe(at(100) + 2 * H);
  });

  test("counters reset after the failure window even without windows", () => {
    const prev: UsageStats = { errorCount: 3, failureCounts: { unknown: 3 }, lastFailureAt: at(0) };
    const next = fail(prev, "unknown", 24 * 3600 + 1);
    expect(next.errorCount).toBe(1);
    expect(next.failureCounts).toEqual({ unknown: 1 });
    const within = fail(prev, "unknown", 24 * 3600);
    expect(within.errorCount).toBe(4);
  });

  test("a failure for another model widens a model-scoped window (end unchanged)", () => {
    const s0 = fail(undefined, "rate_limit", 0, "m1");
    const s10 = fail(s0, "rate_limit", 10, "m2");
    expect(s10.cooldownModel).toBeUndefined();
    expect(s10.cooldownUntil).toBe(at(60));
  });

  test("an active disable is never extended", () => {
    const s0 = fail(undefined, "billing", 0);
    const s1 = fail(s0, "billing", 60);
    expect(s1.disabledUntil).toBe(at(0) + 5 * H);
    expect(s1.failureCounts).toEqual({ billing: 2 });
  });
});

describe("in cooldown / active window", () => {
  const NOW = 1_000_000;
  const rows: Array<[name: string, stats: UsageStats | undefined, provider: string, model: string | undefined, cooling: boolean]> = [
    ["no stats", undefined, "anthropic", undefined, false],
    ["disabled", { disabledUntil: NOW + 1 }, "anthropic", "m", true],
    ["disable ended", { disabledUntil: NOW }, "anthropic", undefined, false],
    ["cooldown", { cooldownUntil: NOW + 1 }, "anthropic", undefined, true],
    ["model-scoped cooldown, same model", { cooldownUntil: NOW + 1, cooldownModel: "m" }, "anthropic", "m", true],
    ["model-scoped cooldown, other model", { cooldownUntil: NOW + 1, cooldownModel: "m" }, "anthropic", "x", false],
    ["model-scoped cooldown, no model asked", { cooldownUntil: NOW + 1, cooldownModel: "m" }, "anthropic", undefined, true],
    ["openrouter never cools down", { disabledUntil: NOW + 1, cooldownUntil: NOW + 1 }, "openrouter", undefined, false],
  ];
  test.each(rows)("%s", (_n, stats, provider, model, cooling) => {
    expect(isInCooldown(stats, provider, NOW, model)).toBe(cooling);
  });

  test("activeWindow: disable wins, reason defaults to unknown", () => {
    expect(activeWindow({ cooldownUntil: NOW + 5, disabledUntil: NOW + 9, disabledReason: "billing" }, "openai", NOW)).toEqual({
      kind: "disabled",
      reason: "billing",
      until: NOW + 9,
    });
    expect(activeWindow({ cooldownUntil: NOW + 5 }, "openai", NOW)).toEqual({ kind: "cooldown", reason: "unknown", until: NOW + 5, model: undefined });
    expect(activeWindow({ cooldownUntil: NOW + 5 }, "openrouter", NOW)).toBeUndefined();
  });
});
