/**
 * Order resolution (spec 03 §8, D12): which profiles of a provider to try, best first.
 */
import { compareStrings } from "./_utils.ts";
import type { JarvisConfig } from "./config.ts";
import { isInCooldown, unusableUntil } from "./cooldown.ts";
import { profileEligibility } from "./eligibility.ts";
import { findProviderKey, normalizeAuthProviderId } from "./providers.ts";
import type { SecretRefDefaults } from "./secret-ref.ts";
import type { AuthStore, CredentialType } from "./store.ts";

export interface ResolvedOrder {
  /** Profile ids to try, best first (cooling ones last). */
  ids: string[];
  /** Where the base list came from. */
  source: "store" | "config-order" | "config-profiles" | "store-profiles";
  explicit: boolean;
  /** Profiles of P left out by an explicit order (never tried; probe reports `excluded_by_auth_order`). */
  excluded: string[];
}

const TYPE_RANK: Record<CredentialType, number> = { oauth: 0, token: 1, api_key: 2 };

// Provider → profile ids of a loaded store, built once per store object (status and probes ask per provider).
const byProviderCache = new WeakMap<AuthStore["profiles"], Map<string, string[]>>();

/** Store profile ids whose provider normalises to P, in file order. The result must not be modified. */
export function storeProfileIds(store: AuthStore, providerId: string): string[] {
  let index = byProviderCache.get(store.profiles);
  if (!index) {
    index = new Map();
    for (const [id, p] of Object.entries(store.profiles)) {
      const key = normalizeAuthProviderId(p.provider);
      const list = index.get(key);
      if (list) list.push(id);
      else index.set(key, [id]);
    }
    byProviderCache.set(store.profiles, index);
  }
  return index.get(providerId) ?? [];
}

/**
 * `resolveOrder(P, now, model?)` of 03 §8.
 * @param providerId normalised provider id
 * @param now epoch ms
 * @param model when given, rate-limit windows scoped to another model do not count
 */
export function resolveOrder(
  providerId: string,
  store: AuthStore,
  config: JarvisConfig,
  now: number,
  model?: string,
  defaults?: SecretRefDefaults,
): ResolvedOrder {
  const storeKey = findProviderKey(store.order, providerId);
  const cfgOrder = config.auth?.order;
  const cfgKey = findProviderKey(cfgOrder, providerId);
  let base: string[];
  let source: ResolvedOrder["source"];
  if (storeKey !== undefined) {
    base = store.order[storeKey]!;
    source = "store";
  } else if (cfgKey !== undefined && Array.isArray(cfgOrder![cfgKey])) {
    base = cfgOrder![cfgKey]!.filter((x) => typeof x === "string").map((x) => x.trim()).filter(Boolean);
    source = "config-order";
  } else {
    const cfgProfiles = Object.entries(config.auth?.profiles ?? {})
      .filter(([, m]) => m && typeof m.provider === "string" && normalizeAuthProviderId(m.provider) === providerId)
      .map(([id]) => id);
    if (cfgProfiles.length > 0) {
      base = cfgProfiles;
      source = "config-profiles";
    } else {
      base = storeProfileIds(store, providerId);
      source = "store-profiles";
    }
  }
  const eligible = (id: string) => profileEligibility(id, providerId, store, config, now, defaults).eligible;
  let ids = [...new Set(base)].filter(eligible);
  if (source === "config-profiles" && base.every((id) => !store.profiles[id])) {
    const fromStore = storeProfileIds(store, providerId).filter(eligible);
    if (fromStore.length > 0) {
      ids = fromStore;
      source = "store-profiles";
    }
  }
  const explicit = source === "store" || source === "config-order";
  const cooling = (id: string) => isInCooldown(store.usageStats[id], providerId, now, model);
  const until = (id: string) => unusableUntil(store.usageStats[id]) ?? 0;
  const available = ids.filter((id) => !cooling(id));
  const coolingIds = ids.filter(cooling).sort((a, b) => until(a) - until(b) || (explicit ? 0 : compareStrings(a, b)));
  if (!explicit) {
    available.sort((a, b) => {
      const pa = store.profiles[a]!;
      const pb = store.profiles[b]!;
      return (
        TYPE_RANK[pa.type] - TYPE_RANK[pb.type] ||
        (store.usageStats[a]?.lastUsed ?? 0) - (store.usageStats[b]?.lastUsed ?? 0) ||
        compareStrings(a, b)
      );
    });
  }
  const listed = new Set(base);
  const excluded = explicit ? storeProfileIds(store, providerId).filter((id) => !listed.has(id)) : [];
  return { ids: [...available, ...coolingIds], source, explicit, excluded };
}

/**
 * Listing order of a provider's profiles (status labels, `auth list`, probes, `/model status`): the resolved order
 * first, then the remaining profiles by id in code-point order (04 §5.4, 05 §4, 04 §7.1).
 * @param ids the provider's profile ids; `ordered` entries not among them are left out
 */
export function listingOrder(ids: readonly string[], ordered: readonly string[]): string[] {
  const known = new Set(ids);
  const first = ordered.filter((id) => known.has(id));
  const taken = new Set(first);
  return [...first, ...ids.filter((id) => !taken.has(id)).sort(compareStrings)];
}
