/**
 * Null-prototype dictionaries for maps keyed by user input (profile ids, provider ids, session keys, env names).
 * On an ordinary object `obj["toString"]` finds an inherited function and `obj["__proto__"] = v` replaces the
 * prototype instead of storing `v`: a profile id like `__proto__` (valid per spec 03 §1) would silently vanish.
 */

/** An empty null-prototype dictionary. */
export function dict<V = unknown>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}

/**
 * Deep copy of a JSON value in which every object is a null-prototype dictionary (arrays stay arrays, other values
 * are copied as they are). Own keys, including `__proto__`, and their order are kept; `JSON.stringify` output is
 * the same as for the original. With `depth`, only that many levels are converted; deeper values are shared.
 */
export function toDict<T>(value: T, depth = Infinity): T {
  if (depth <= 0 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => toDict(v, depth - 1)) as T;
  const out = dict();
  for (const [k, v] of Object.entries(value)) out[k] = toDict(v, depth - 1);
  return out as T;
}

/** Own-property lookup on any object (never an inherited member such as `toString`). */
export function own<V>(obj: Record<string, V> | undefined | null, key: string): V | undefined {
  return obj !== undefined && obj !== null && Object.hasOwn(obj, key) ? obj[key] : undefined;
}
