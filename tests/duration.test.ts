// Durations on the command line (spec README "Durations") and short human durations (04 §3).
import { describe, expect, test } from "bun:test";
import { expiryText, isoTime, parseDuration, short } from "../lib/duration.ts";
import { UsageError } from "../lib/errors.ts";

const H = 3_600_000;

describe("parseDuration", () => {
  const ok: Array<[raw: string, unit: "h" | "d", ms: number]> = [
    ["30d", "d", 30 * 24 * H],
    ["12h", "h", 12 * H],
    ["1h30m", "h", 5_400_000],
    ["1.5h", "h", 5_400_000],
    ["48", "h", 48 * H], // bare number: --warn-within default unit
    ["30", "d", 30 * 24 * H], // bare number: --expires-in default unit
    ["1.5", "h", 5_400_000],
    ["500ms", "h", 500],
    ["1m1ms", "h", 60_001],
    ["90s", "h", 90_000],
    ["0.0006s", "h", 1], // rounded to the nearest ms
  ];
  test.each(ok)("%p (%s) → %p ms", (raw, unit, ms) => {
    expect(parseDuration(raw, unit)).toBe(ms);
  });

  const bad = ["30x", "1h 30m", "-1h", "0", "30D", "", "h", "1.h", ".5h", "0h", "0.0004s", "1h-", " 1h", "1e3h", "0ms"];
  test.each(bad)("%p → usage error `invalid duration: <raw>`", (raw) => {
    let err: unknown;
    try {
      parseDuration(raw, "h");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe(`invalid duration: ${raw}`);
    expect((err as UsageError).exitCode).toBe(64);
  });
});

describe("short", () => {
  const rows: Array<[ms: number, text: string]> = [
    [20_000, "<1m"],
    [29_999, "<1m"],
    [30_000, "1m"], // round half up
    [50_000, "1m"],
    [30 * 60_000, "30m"],
    [59 * 60_000, "59m"],
    [59.5 * 60_000, "1h"], // m rounds to 60
    [100 * 60_000, "2h"],
    [5 * H, "5h"],
    [47 * H, "47h"],
    [48 * H, "2d"],
    [60 * H, "3d"], // 2.5 d rounds half up
    [3 * 24 * H, "3d"],
    [0, "<1m"],
  ];
  test.each(rows)("%p ms → %p", (ms, text) => {
    expect(short(ms)).toBe(text);
  });
});

describe("expiry text and ISO time", () => {
  test("future → expires in, past and now → expired … ago", () => {
    expect(expiryText(1_000 + 5 * H, 1_000)).toBe("expires in 5h");
    expect(expiryText(1_000, 1_000 + 2 * 24 * H)).toBe("expired 2d ago");
    expect(expiryText(1_000, 1_000)).toBe("expired <1m ago");
  });
  test("absolute times are ISO-8601 UTC without milliseconds", () => {
    expect(isoTime(1795940045000)).toBe("2026-11-29T08:14:05Z");
    expect(isoTime(1795940045999)).toBe("2026-11-29T08:14:05Z");
  });
});
