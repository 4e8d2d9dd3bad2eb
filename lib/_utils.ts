/**
 * Small value checks shared by many modules (one implementation each instead of a local copy per file).
 */

/** A JSON object: non-null, not an array (any prototype, so null-prototype dictionaries count). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A string with at least one non-whitespace character (blank and non-string values count as absent). */
export function hasText(value: unknown): value is string {
  return typeof value === "string" && value.trim() !== "";
}

/** Loopback = 127.0.0.0/8 and ::1 (07 §1), for an IP literal with or without brackets. */
export function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::1" || host === "[::1]";
}

/**
 * A URL whose host is `localhost` or a loopback IP literal: where plain `http://` is acceptable (OAuth endpoints of
 * local fakes, 08 §1) and where a custom endpoint needs no key (09 §2.2). A DNS name that merely starts with `127.`
 * is not loopback.
 */
export function isLoopbackUrl(u: URL): boolean {
  const host = u.hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || isLoopback(host);
}

/**
 * Code-unit order of two strings (what `Array.prototype.sort` does without a comparator), for multi-key sorts of
 * ids. Never locale-dependent, so output order is the same on every machine.
 * @returns -1, 0 or 1
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
