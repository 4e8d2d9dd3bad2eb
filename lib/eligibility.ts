/**
 * Expiry state, credential eligibility and profile eligibility (spec 03 §6, D2, D7). One function for order
 * resolution, status, probes, the gateway and doctor.
 */
import { hasText } from "./_utils.ts";
import type { JarvisConfig } from "./config.ts";
import { normalizeAuthProviderId } from "./providers.ts";
import { coerceSecretRef, type SecretRef, type SecretRefDefaults } from "./secret-ref.ts";
import type { AuthStore, Profile, UsageStats } from "./store.ts";

export type ExpiryState = "none" | "invalid_expires" | "expired" | "valid";

/** Hint for an `expires` that looks like epoch seconds (D7). */
export const SECONDS_HINT = "looks like seconds; expected epoch milliseconds";

/**
 * Expiry state of an `expires` value at `now` (both epoch ms), 03 §6.
 * @returns state and, for seconds-looking values, a hint
 */
export function expiryState(expires: unknown, now: number): { state: ExpiryState; hint?: string } {
  if (expires === undefined) return { state: "none" };
  if (typeof expires !== "number" || !Number.isFinite(expires) || expires <= 0 || expires > 8.64e15) {
    return { state: "invalid_expires" };
  }
  if (expires < 1e11) return { state: "invalid_expires", hint: SECONDS_HINT };
  return { state: now >= expires ? "expired" : "valid" };
}

export type IneligibleReason =
  | "profile_missing"
  | "invalid_profile"
  | "provider_mismatch"
  | "mode_mismatch"
  | "missing_credential"
  | "invalid_expires"
  | "expired"
  | "relogin_required";

export type Eligibility = { eligible: true } | { eligible: false; reasonCode: IneligibleReason; hint?: string };

/**
 * The SecretRef a profile's credential comes from (`keyRef` for api_key, `tokenRef` for token), when the ref field
 * is present. `valid` false means the field is there but not a usable ref (its `error` says why).
 */
export function profileRef(
  profile: Profile,
  defaults?: SecretRefDefaults,
): { ref: SecretRef; legacy: boolean } | { error: string; raw: unknown } | undefined {
  const field = profile.type === "api_key" ? profile.keyRef : profile.type === "token" ? profile.tokenRef : undefined;
  if (field === undefined) return undefined;
  const c = coerceSecretRef(field, defaults);
  if (c === null) return { error: "not a SecretRef ({source, provider, id})", raw: field };
  return "error" in c ? { error: c.error, raw: field } : c;
}

/**
 * Credential eligibility of one profile (03 §6 table). Refs count as present when their shape is valid; they are
 * resolved at use time.
 */
export function credentialEligibility(
  profile: Profile,
  stats: UsageStats | undefined,
  now: number,
  defaults?: SecretRefDefaults,
): Eligibility {
  const ref = profileRef(profile, defaults);
  const hasRef = ref !== undefined && "ref" in ref;
  if (profile.type === "api_key") {
    return hasText(profile.key) || hasRef ? { eligible: true } : { eligible: false, reasonCode: "missing_credential" };
  }
  if (profile.type === "token") {
    if (!hasText(profile.token) && !hasRef) return { eligible: false, reasonCode: "missing_credential" };
    const e = expiryState(profile.expires, now);
    if (e.state === "none" || e.state === "valid") return { eligible: true };
    return { eligible: false, reasonCode: e.state, hint: e.hint };
  }
  if (!hasText(profile.access) && !hasText(profile.refresh)) return { eligible: false, reasonCode: "missing_credential" };
  const e = expiryState(profile.expires, now);
  if (e.state === "valid") return { eligible: true };
  if (e.state === "none" || e.state === "invalid_expires") return { eligible: false, reasonCode: "invalid_expires", hint: e.hint };
  if (profile.external) return { eligible: true };
  if (hasText(profile.refresh)) {
    return stats?.needsRelogin ? { eligible: false, reasonCode: "relogin_required" } : { eligible: true };
  }
  return { eligible: false, reasonCode: "expired" };
}

/**
 * Profile eligibility for provider P (03 §6): exists, valid, provider matches, config mode matches, then the
 * credential. `providerId` must be normalised.
 */
export function profileEligibility(
  profileId: string,
  providerId: string,
  store: AuthStore,
  config: JarvisConfig,
  now: number,
  defaults?: SecretRefDefaults,
): Eligibility {
  const profile = store.profiles[profileId];
  if (!profile) {
    return store.invalid.some((i) => i.profileId === profileId)
      ? { eligible: false, reasonCode: "invalid_profile" }
      : { eligible: false, reasonCode: "profile_missing" };
  }
  if (normalizeAuthProviderId(profile.provider) !== providerId) return { eligible: false, reasonCode: "provider_mismatch" };
  const meta = config.auth?.profiles?.[profileId];
  if (meta) {
    if (normalizeAuthProviderId(meta.provider) !== providerId) return { eligible: false, reasonCode: "mode_mismatch" };
    const tokenAsOauth = meta.mode === "oauth" && profile.type === "token" && profile.tokenRef === undefined;
    if (meta.mode !== profile.type && !tokenAsOauth) return { eligible: false, reasonCode: "mode_mismatch" };
  }
  return credentialEligibility(profile, store.usageStats[profileId], now, defaults);
}
