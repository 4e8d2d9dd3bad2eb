/**
 * SecretRef shape, coercion and validation (spec 06 §2). Pure: no I/O.
 *
 * A SecretRef names where a secret lives (`{source, provider, id}`) instead of holding it; resolution is in
 * `secrets.ts`. Display form `ref(<source>:<id>)`, error/key form `<source>:<provider>:<id>`.
 */
import { isPlainObject } from "./_utils.ts";

export type SecretSource = "env" | "file" | "exec";

/** `{source, provider: <alias>, id}` (06 §2). */
export type SecretRef = { source: SecretSource; provider: string; id: string };

/** `secrets.defaults` of the config: provider alias per source for legacy refs and `${NAME}` strings. */
export type SecretRefDefaults = { env?: string; file?: string; exec?: string };

/** Result of `coerceSecretRef`: a valid ref (`legacy` = it had no `provider` key; callers warn), or why it is invalid. */
export type CoercedSecretRef = { ref: SecretRef; legacy: boolean } | { error: string };

const SECRET_SOURCES: readonly SecretSource[] = ["env", "file", "exec"];

/** The alias used when neither the ref nor `secrets.defaults.<source>` names a provider. */
export const DEFAULT_PROVIDER_ALIAS = "default";

export const PROVIDER_ALIAS_RE = /^[a-z][a-z0-9_-]{0,63}$/;
export const ENV_ID_RE = /^[A-Z][A-Z0-9_]{0,127}$/;
const EXEC_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$/;
const POINTER_SEGMENT_RE = /^(?:[^~]|~0|~1)*$/;
const ENV_TEMPLATE_RE = /^\$\{([A-Z][A-Z0-9_]{0,127})\}$/;

/** The id a `singleValue` file provider expects (06 §4.2). */
export const SINGLE_VALUE_ID = "value";

// Error texts of the 06 §2 validation table, verbatim.
export const ENV_ID_ERROR =
  'Env secret reference id must match /^[A-Z][A-Z0-9_]{0,127}$/ (example: "OPENAI_API_KEY").';
export const FILE_ID_ERROR =
  'File-backed secret ids must be absolute JSON pointers (for example: "/providers/openai/apiKey").';
export const EXEC_ID_ERROR =
  'Exec secret reference id must match /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$/ and must not include "." or ".." ' +
  'path segments (example: "vault/openai/api-key").';

const REF_KEYS = ["source", "provider", "id"];

function isSource(value: unknown): value is SecretSource {
  return typeof value === "string" && (SECRET_SOURCES as readonly string[]).includes(value);
}

/** `Invalid secret provider alias "<p>"` (06 §2). */
function aliasError(alias: unknown): string {
  return `Invalid secret provider alias "${String(alias)}"`;
}

/**
 * True when `id` is an absolute RFC 6901 pointer as 06 §2 requires for file refs: starts with `/`, every segment
 * uses `~` only as `~0` / `~1`. (The literal `value` is accepted separately by `validateSecretRef`.)
 */
export function isAbsoluteJsonPointer(id: string): boolean {
  return id.startsWith("/") && id.slice(1).split("/").every((segment) => POINTER_SEGMENT_RE.test(segment));
}

/** One RFC 6901 pointer segment as a key: `~1` → `/`, then `~0` → `~` (in that order, so `~01` stays `~1`). */
export function unescapePointerSegment(segment: string): string {
  return segment.replace(/~1/g, "/").replace(/~0/g, "~");
}

/**
 * Check the parts of a ref against the 06 §2 table.
 * @param ref a ref whose `source` is one of env/file/exec (other fields unchecked)
 * @returns the exact spec error text for the first failing part (provider alias first, then id), or undefined if valid
 */
export function validateSecretRef(ref: SecretRef): string | undefined {
  if (typeof ref.provider !== "string" || !PROVIDER_ALIAS_RE.test(ref.provider)) return aliasError(ref.provider);
  const id: unknown = ref.id;
  switch (ref.source) {
    case "env":
      return typeof id === "string" && ENV_ID_RE.test(id) ? undefined : ENV_ID_ERROR;
    case "file":
      return typeof id === "string" && (id === SINGLE_VALUE_ID || isAbsoluteJsonPointer(id)) ? undefined : FILE_ID_ERROR;
    case "exec":
      return typeof id === "string" && EXEC_ID_RE.test(id) && !id.split("/").some((s) => s === "." || s === "..")
        ? undefined
        : EXEC_ID_ERROR;
    default:
      return `Invalid secret reference source "${String(ref.source)}" (expected "env", "file" or "exec").`;
  }
}

/**
 * True when `value` would be read as a SecretRef (valid or not): a plain object with `source` and `id` keys, or a
 * string that is exactly `${NAME}`. Used for the "any SecretRef-shaped value" rules (03 `oauth_with_ref`, D14).
 * Same set as `coerceSecretRef(value) !== null`.
 */
export function isSecretRefShaped(value: unknown): boolean {
  if (typeof value === "string") return ENV_TEMPLATE_RE.test(value);
  return isPlainObject(value) && "source" in value && "id" in value;
}

/**
 * Coerce a config/store value to a SecretRef per the 06 §2 coercion table.
 *
 * - object with exactly `source`, `provider`, `id` → strict ref (`legacy: false`)
 * - object with `source` and `id` but no `provider` (extra keys ignored) → legacy ref, provider =
 *   `defaults.<source>` else `default` (`legacy: true`: the caller warns)
 * - string exactly `${NAME}` (`NAME` env-id shaped) → env ref with provider `defaults.env` else `default`
 * - anything else → `null` (not a ref)
 *
 * Ref-shaped values (see `isSecretRefShaped`) that break a rule come back as `{error}` with the exact 06 §2 text;
 * an object that has `provider` plus keys other than the three is ref-shaped but not a strict ref, so it is an error
 * too (it would otherwise silently be treated as a plaintext value). Never throws.
 */
export function coerceSecretRef(value: unknown, defaults?: SecretRefDefaults): null | CoercedSecretRef {
  if (typeof value === "string") {
    const m = ENV_TEMPLATE_RE.exec(value);
    if (!m) return null;
    const provider = defaults?.env ?? DEFAULT_PROVIDER_ALIAS;
    return finish({ source: "env", provider, id: m[1]! }, false);
  }
  if (!isPlainObject(value) || !("source" in value) || !("id" in value)) return null;
  const source = value.source;
  if (!isSource(source)) {
    return { error: `Invalid secret reference source "${String(source)}" (expected "env", "file" or "exec").` };
  }
  if (value.provider === undefined) {
    const provider = defaults?.[source] ?? DEFAULT_PROVIDER_ALIAS;
    return finish({ source, provider, id: value.id as string }, true);
  }
  const extra = Object.keys(value).filter((k) => !REF_KEYS.includes(k));
  if (extra.length > 0) {
    return { error: `Secret reference has unexpected key "${extra[0]}" (allowed: "source", "provider", "id").` };
  }
  return finish({ source, provider: value.provider as string, id: value.id as string }, false);
}

function finish(ref: SecretRef, legacy: boolean): CoercedSecretRef {
  const error = validateSecretRef(ref);
  // Copy so the caller never holds (and mutates) the config's own object.
  return error === undefined ? { ref: { source: ref.source, provider: ref.provider, id: ref.id }, legacy } : { error };
}

/** Display form used in all human/JSON output: `ref(<source>:<id>)`, e.g. `ref(exec:vault/openai/api-key)` (06 §2). */
export function refDisplay(ref: SecretRef): string {
  return `ref(${ref.source}:${ref.id})`;
}

/** De-duplication key and the name used in error messages: `<source>:<provider>:<id>` (06 §2, §4 step 1). */
export function refKey(ref: SecretRef): string {
  return `${ref.source}:${ref.provider}:${ref.id}`;
}
