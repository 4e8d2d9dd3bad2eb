/**
 * The config credential of a provider (spec 02 §4.2): `models.providers.<P>.apiKey` — SecretRef, `${NAME}` env ref,
 * catalog env var name marker, `secretref-managed`, `ollama-local` / `custom-local`, plaintext — else a synthetic
 * local key. One reading for status, probes, the gateway and doctor.
 */
import type { JarvisConfig } from "./config.ts";
import type { EffectiveEnv } from "./env.ts";
import { markerDisplay, mask } from "./mask.ts";
import { catalogEntry, catalogEnvVarNames, findProviderKey } from "./providers.ts";
import { coerceSecretRef, refDisplay, type SecretRef, type SecretRefDefaults } from "./secret-ref.ts";

/** Config credential of a provider (02 §4.2) as status, runtime and doctor see it. */
export interface ConfigCredential {
  kind: "plaintext" | "ref" | "marker" | "local" | "invalid_ref";
  display: string;
  /** Whether it can supply a credential (markers need their env var; `secretref-managed` never). */
  present: boolean;
  ref?: SecretRef;
  error?: string;
  value?: string;
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "0.0.0.0", "[::1]", "::1"]);

/**
 * The config credential of provider P: `models.providers.<P>.apiKey` (SecretRef, `${NAME}` ref, env var name marker,
 * `secretref-managed`, `ollama-local` / `custom-local`, plaintext), else a synthetic local key (02 §4.2).
 */
export function configCredential(
  providerId: string,
  config: JarvisConfig,
  envVars: EffectiveEnv["vars"],
  defaults: SecretRefDefaults,
): ConfigCredential | undefined {
  const providers = config.models?.providers;
  const key = findProviderKey(providers, providerId);
  const entry = key !== undefined ? providers![key] : undefined;
  const apiKey = entry?.apiKey;
  if (apiKey !== undefined && apiKey !== null && apiKey !== "") {
    const c = coerceSecretRef(apiKey, defaults);
    if (c && "ref" in c) return { kind: "ref", display: refDisplay(c.ref), present: true, ref: c.ref };
    if (c && "error" in c) return { kind: "invalid_ref", display: "ref(invalid)", present: false, error: c.error };
    if (typeof apiKey === "string") {
      const v = apiKey.trim();
      if (v === "secretref-managed") return { kind: "marker", display: markerDisplay(v), present: false };
      if (v === "ollama-local" || v === "custom-local") return { kind: "local", display: markerDisplay(v), present: true, value: v };
      // Only catalog names are markers (02 §4.2); any other string is a plaintext key.
      if (catalogEnvVarNames().includes(v)) {
        const ev = envVars.get(v)?.value;
        return { kind: "marker", display: markerDisplay(v), present: ev !== undefined, value: ev };
      }
      return { kind: "plaintext", display: mask(v), present: v !== "", value: v };
    }
    return undefined;
  }
  if (providerId === "ollama" && entry) return { kind: "local", display: markerDisplay("ollama-local"), present: true, value: "ollama-local" };
  if (entry && !catalogEntry(providerId) && typeof entry.baseUrl === "string" && entry.api && Array.isArray(entry.models) && entry.models.length > 0) {
    try {
      const host = new URL(entry.baseUrl).hostname;
      if (LOCAL_HOSTS.has(host)) return { kind: "local", display: markerDisplay("custom-local"), present: true, value: "custom-local" };
    } catch {
      // not a URL: no synthetic key
    }
  }
  return undefined;
}

