/**
 * `jarvis models auth …` commands that take credentials in and manage the store (spec 05 §0–§5, §8–§10):
 * paste-token, setup-token, add, list, remove, order get|set|clear. Thin handlers: validate flags first, then read
 * input, then write through store-write.ts / config-edit.ts, then print.
 */
import { hasText } from "./_utils.ts";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { loadContext, type Context, type ContextInput } from "./context.ts";
import { configOrderFor, editConfig, removeConfigProfile, upsertConfigProfile } from "./config-edit.ts";
import { activeWindow } from "./cooldown.ts";
import { expiryText, isoTime, parseDuration, short } from "./duration.ts";
import { profileEligibility, profileRef } from "./eligibility.ts";
import { JarvisError, UsageError } from "./errors.ts";
import { log, printJson, printLine } from "./log.ts";
import { registerSecret } from "./mask.ts";
import { normalizeSecret } from "./normalize.ts";
import { resolveOrder, listingOrder } from "./order.ts";
import { confirm, isInteractive, promptSecret, readStdin } from "./prompt.ts";
import { catalogEntry, findProviderKey, normalizeAuthProviderId, normalizeProviderId } from "./providers.ts";
import { refDisplay } from "./secret-ref.ts";
import { DEFAULT_WARN_WITHIN_MS, profileHealth } from "./status.ts";
import { assertNotLegacyFlat, cleanIds, clearOrder, mutateStore, removeProfile, setOrder, upsertProfile, type Credential } from "./store-write.ts";
import { isValidProfileId, loadStore, type AuthStore, type CredentialType } from "./store.ts";
import { own, toDict } from "./dict.ts";

/** A provider id a command may name (05 §1), after normalisation. */
export const PROVIDER_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Validate `--provider` (05 §1): required, non-blank, normalised, `^[a-z0-9][a-z0-9._-]{0,63}$`.
 * @throws UsageError (exit 64)
 */
export function providerFlag(raw: string | undefined): string {
  if (raw === undefined || raw.trim() === "") throw new UsageError("Missing --provider.");
  const p = normalizeProviderId(raw);
  if (!PROVIDER_ID.test(p)) throw new UsageError(`Invalid --provider "${raw}" (use a-z, 0-9, ".", "_", "-"; at most 64 characters).`);
  return p;
}

/** Validate a `--profile-id` against the id rule (03 §1). @throws UsageError */
export function profileIdFlag(raw: string | undefined, fallback: string): string {
  const id = raw === undefined ? fallback : raw.trim();
  if (!isValidProfileId(id)) {
    throw new UsageError(`Invalid --profile-id "${raw}" (1-128 characters, no whitespace, "/" or control characters).`);
  }
  return id;
}

/** Load the store and refuse to go on (before any prompt) when it cannot be written. */
function writableStore(ctx: Context): AuthStore {
  const store = loadStore(ctx.agent.storePath);
  assertNotLegacyFlat(store);
  return store;
}

/** Warnings for ids and providers that will not be used as the user probably expects (never fatal). */
function noteUnusual(ctx: Context, provider: string, id: string): void {
  if (!catalogEntry(provider) && findProviderKey(ctx.config.models?.providers, provider) === undefined) {
    log.warn(`provider "${provider}" is not in the catalog or models.providers; configure models.providers.${provider} before it can be used`);
  }
  if (!id.startsWith(`${provider}:`)) log.warn(`profile id "${id}" does not start with "${provider}:"; jarvis doctor will report it`);
}

/**
 * Read a secret: masked prompt on a TTY, else stdin (05 §0).
 * @throws JarvisError no_tty when stdin is a TTY but stdout is not; no_input for empty stdin
 */
async function readSecretInput(question: string, commandHint: string): Promise<{ raw: string; fromStdin: boolean }> {
  if (isInteractive()) return { raw: await promptSecret(question), fromStdin: false };
  if (process.stdin.isTTY) {
    throw new JarvisError("no_tty", `${commandHint.split(" --")[0]} needs a terminal, or the token on stdin (e.g. printf '%s' "$TOKEN" | ${commandHint}).`);
  }
  return { raw: await readStdin(), fromStdin: true };
}

/** Store a credential and its config metadata; returns whether an old entry was replaced. */
async function storeCredential(ctx: Context, id: string, cred: Credential, email?: string): Promise<boolean> {
  const { result: replaced } = await mutateStore(ctx.agent.storePath, (doc) => {
    const r = upsertProfile(doc, id, cred);
    return { doc: r.doc, result: r.replaced };
  });
  await editConfig(ctx.paths.configPath, (doc) => upsertConfigProfile(doc, id, { provider: cred.provider, mode: cred.type, email }), ctx.show);
  return replaced;
}

/** Note when an explicit order for the provider omits the id (05 §1 "order note"). */
function orderNote(ctx: Context, store: AuthStore, provider: string, id: string): void {
  const storeKey = findProviderKey(store.order, provider);
  const cfg = configOrderFor(ctx.loaded.raw, provider);
  const list = storeKey !== undefined ? store.order[storeKey]! : cfg;
  if (!list || list.includes(id)) return;
  const where = storeKey !== undefined ? "store" : "jarvis.json";
  log.info(
    `Note: the explicit order for ${provider} (${where}) does not list ${id}, so it will not be used. Add it with: jarvis models auth order set --provider ${provider} ${[...list, id].join(" ")}`,
  );
}

export interface PasteTokenFlags {
  provider?: string;
  profileId?: string;
  type?: string;
  expiresIn?: string;
}

/**
 * `models auth paste-token` (05 §1).
 * @returns exit code 0
 * @throws UsageError for bad flags (before any input is read), JarvisError for rejected input / store errors
 */
export async function runPasteToken(flags: PasteTokenFlags, input: ContextInput, now = Date.now()): Promise<number> {
  const provider = providerFlag(flags.provider);
  const id = profileIdFlag(flags.profileId, `${provider}:manual`);
  if (flags.type !== undefined && flags.type !== "token" && flags.type !== "api_key") {
    throw new UsageError(`Invalid --type "${flags.type}" (use token or api_key).`);
  }
  let expiresMs: number | undefined;
  if (flags.expiresIn !== undefined) {
    expiresMs = parseDuration(flags.expiresIn, "d");
    if (flags.type === "api_key") throw new UsageError("--expires-in applies to tokens only.");
  }
  const ctx = loadContext(input);
  const store = writableStore(ctx);
  noteUnusual(ctx, provider, id);

  const { raw, fromStdin } = await readSecretInput(`Paste token for ${provider}`, `jarvis models auth paste-token --provider ${provider}`);
  const n = normalizeSecret(raw, { mode: "paste", what: "token", inputPath: true });
  if (!n.ok) throw new JarvisError("invalid_input", n.code === "empty" && fromStdin ? "No token received on stdin." : n.message);
  const value = n.value;
  registerSecret(value);

  let type: CredentialType;
  if (flags.type === "token" || flags.type === "api_key") {
    type = flags.type;
    if (type === "token" && value.startsWith("sk-ant-api")) log.warn("this looks like an Anthropic API key; storing it as type token because --type token was given");
    if (type === "api_key" && value.startsWith("sk-ant-oat")) log.warn("this looks like a setup-token; storing it as type api_key because --type api_key was given");
  } else if (provider === "anthropic" && value.startsWith("sk-ant-api")) {
    type = "api_key";
    log.info("Detected an Anthropic API key; storing it as type api_key.");
  } else type = "token";
  if (type === "api_key" && expiresMs !== undefined) throw new UsageError("--expires-in applies to tokens only.");

  const cred: Credential = type === "api_key" ? { type, provider, key: value } : { type, provider, token: value };
  if (expiresMs !== undefined) cred.expires = now + expiresMs;
  const replaced = await storeCredential(ctx, id, cred);
  if (replaced) log.info(`Replaced existing auth profile ${id}.`);
  orderNote(ctx, store, provider, id);
  printLine(`Auth profile: ${id} (${provider}/${type})`);
  if (cred.expires !== undefined) printLine(`Expires: ${isoTime(cred.expires)} (in ${short(cred.expires - now)})`);
  return 0;
}

const SETUP_TOKEN_PREFIX = "sk-ant-oat01-";

/**
 * Validate a pasted setup-token (05 §2 step 4).
 * @returns the normalised token, or an error message
 */
export function checkSetupToken(raw: string): { ok: true; value: string } | { ok: false; message: string } {
  const n = normalizeSecret(raw, { mode: "paste", what: "setup-token", inputPath: true });
  if (!n.ok) return n;
  if (n.value.startsWith("sk-ant-api")) {
    return { ok: false, message: "That is an API key, not a setup-token; store it with jarvis models auth paste-token --provider anthropic" };
  }
  if (!n.value.startsWith(SETUP_TOKEN_PREFIX)) return { ok: false, message: `a setup-token starts with ${SETUP_TOKEN_PREFIX}` };
  return n;
}

/** Absolute path of `name` on PATH, or undefined. */
function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      const st = fs.statSync(p);
      if (st.isFile() && (st.mode & 0o111) !== 0) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * `models auth setup-token` (05 §2, D10): TTY only; may run `claude setup-token`; up to 3 paste attempts.
 * @throws UsageError for a provider other than anthropic; JarvisError no_tty / invalid_input
 */
export async function runSetupToken(flags: { provider?: string; profileId?: string; yes?: boolean }, input: ContextInput): Promise<number> {
  if (flags.provider !== undefined && normalizeProviderId(flags.provider) !== "anthropic") {
    throw new UsageError("Only --provider anthropic is supported for setup-token.");
  }
  const id = profileIdFlag(flags.profileId, "anthropic:manual");
  if (!isInteractive()) {
    throw new JarvisError(
      "no_tty",
      "setup-token requires an interactive TTY. To store a token non-interactively, pipe it into: jarvis models auth paste-token --provider anthropic",
    );
  }
  const ctx = loadContext(input);
  const store = writableStore(ctx);
  const claude = which("claude");
  if (claude) {
    const run = flags.yes || (await confirm("Run `claude setup-token` now? [Y/n]", true));
    if (run) {
      const r = spawnSync(claude, ["setup-token"], { stdio: "inherit" });
      if (r.status !== 0) log.warn(`claude setup-token exited with ${r.status ?? r.signal}; paste a token you already have`);
    }
  } else {
    log.info("Run `claude setup-token` on a machine with Claude Code (Claude Pro/Max subscription; it needs a TTY), then paste the token here.");
  }
  let token: string | undefined;
  for (let attempt = 1; attempt <= 3 && token === undefined; attempt++) {
    const r = checkSetupToken(await promptSecret(`Paste the setup-token (${SETUP_TOKEN_PREFIX}…)`));
    if (r.ok) token = r.value;
    else if (attempt < 3) log.warn(r.message);
    else throw new JarvisError("invalid_input", r.message);
  }
  registerSecret(token);
  const replaced = await storeCredential(ctx, id, { type: "token", provider: "anthropic", token: token! });
  if (replaced) log.info(`Replaced existing auth profile ${id}.`);
  orderNote(ctx, store, "anthropic", id);
  printLine(`Auth profile: ${id} (anthropic/token)`);
  log.info("Anthropic recommends an API key for direct API use; a setup-token works only for requests that Anthropic allows for Claude subscriptions.");
  return 0;
}

/** One row of `auth list` (05 §4). Never carries secret material, not even masked. */
export interface ListedProfile {
  profileId: string;
  provider: string;
  type: string;
  credential: "inline" | "ref" | "missing";
  ref?: unknown;
  email?: string;
  expiresAt?: number;
  status: string;
  reasonCode?: string;
  unusable?: { kind: string; reason: string; until: number; remainingMs: number };
  external?: string;
  invalid?: { reason: string; detail: string };
}

/**
 * Rows of `auth list`, sorted by provider, then resolved order, then remaining ids (05 §4).
 * Refs are not resolved (list is read-only and offline); a ref-shaped value that is invalid shows `unresolved`.
 */
function listProfiles(ctx: Context, store: AuthStore, now: number, providerFilter?: string): ListedProfile[] {
  // Invalid entries are listed too (TYPE `?`): with their provider when the raw entry names one, among the
  // "remaining profiles by id" of that provider.
  const invalidRows = new Map<string, ListedProfile>();
  for (const inv of store.invalid) {
    const rawEntry = own(store.doc?.profiles as Record<string, any> | undefined, inv.profileId);
    const prov = rawEntry && hasText(rawEntry.provider) ? normalizeAuthProviderId(rawEntry.provider) : "?";
    invalidRows.set(inv.profileId, { profileId: inv.profileId, provider: prov, type: "?", credential: "missing", status: "missing", invalid: { reason: inv.reason, detail: inv.detail } });
  }
  const byProvider = new Map<string, string[]>();
  const add = (prov: string, id: string) => byProvider.set(prov, [...(byProvider.get(prov) ?? []), id]);
  for (const [id, p] of Object.entries(store.profiles)) add(normalizeAuthProviderId(p.provider), id);
  for (const [id, row] of invalidRows) add(row.provider, id);
  const rows: ListedProfile[] = [];
  for (const prov of [...byProvider.keys()].sort()) {
    if (providerFilter && prov !== providerFilter) continue;
    const ids = byProvider.get(prov)!;
    const sorted = listingOrder(ids, resolveOrder(prov, store, ctx.config, now, undefined, ctx.secretDefaults).ids);
    for (const id of sorted) rows.push(invalidRows.get(id) ?? listedRow(ctx, store, id, prov, now));
  }
  return rows;
}

function listedRow(ctx: Context, store: AuthStore, id: string, prov: string, now: number): ListedProfile {
  const p = store.profiles[id]!;
  const h = profileHealth(id, p, { store, refs: new Map(), secretDefaults: ctx.secretDefaults, now, warnWithinMs: DEFAULT_WARN_WITHIN_MS, config: ctx.config });
  const ref = profileRef(p, ctx.secretDefaults);
  const inline = p.type === "api_key" ? p.key : p.type === "token" ? p.token : p.access ?? p.refresh;
  const row = {
    profileId: id,
    provider: prov,
    type: p.type,
    credential: ref ? "ref" : hasText(inline) ? "inline" : "missing",
  } as ListedProfile;
  if (ref && "ref" in ref) row.ref = ref.ref;
  const email = ctx.config.auth?.profiles?.[id]?.email ?? p.email;
  if (typeof email === "string") row.email = email;
  if (h.expiresAt !== undefined) row.expiresAt = h.expiresAt;
  row.status = h.status;
  if (h.reasonCode) row.reasonCode = h.reasonCode;
  const w = activeWindow(store.usageStats[id], prov, now);
  if (w) row.unusable = { kind: w.kind, reason: w.reason, until: w.until, remainingMs: w.until - now };
  if (p.type === "oauth" && p.external) row.external = p.external.source;
  return row;
}

function stateText(r: ListedProfile): string {
  if (r.invalid) return `invalid:${r.invalid.reason}`;
  if (r.unusable) return r.unusable.kind === "cooldown" ? `cooldown ${r.unusable.reason} ${short(r.unusable.remainingMs)}` : `disabled:${r.unusable.reason} ${short(r.unusable.remainingMs)}`;
  if (r.status === "expired" && r.type === "oauth" && r.reasonCode === "expired") return "expired";
  return r.status + (r.reasonCode && r.reasonCode !== r.status && r.status !== "expired" ? ` (${r.reasonCode})` : "");
}

/** Render `auth list` rows as the aligned table of 05 §4. */
function renderProfileTable(rows: ListedProfile[], now: number, refreshable: Set<string>): string[] {
  const table = rows.map((r) => [
    r.profileId,
    r.provider,
    r.type,
    r.credential === "ref" && r.ref ? refDisplay(r.ref as never) : r.credential,
    r.expiresAt !== undefined ? expiryText(r.expiresAt, now).replace(/^expires in /, "in ") : "-",
    stateText(r) + (refreshable.has(r.profileId) ? " (refreshable)" : ""),
  ]);
  const head = ["PROFILE", "PROVIDER", "TYPE", "CREDENTIAL", "EXPIRES", "STATE"];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [fmt(head), ...table.map(fmt)];
}

/** `models auth list` (05 §4): read-only. */
export async function runAuthList(flags: { provider?: string; json?: boolean }, input: ContextInput, now = Date.now()): Promise<number> {
  const filter = flags.provider !== undefined ? providerFlag(flags.provider) : undefined;
  const ctx = loadContext(input);
  const store = loadStore(ctx.agent.storePath);
  for (const w of store.warnings) log.warn(w.message);
  const rows = listProfiles(ctx, store, now, filter);
  if (flags.json) {
    printJson({ agentId: ctx.agent.agentId, storePath: store.path, profiles: rows });
    return 0;
  }
  printLine(`Auth profiles (${ctx.agent.agentId}, ${ctx.show(store.path)})`);
  if (rows.length === 0) {
    printLine("No auth profiles.");
    return 0;
  }
  const refreshable = new Set<string>();
  for (const [id, p] of Object.entries(store.profiles)) {
    const h = profileHealth(id, p, { store, refs: new Map(), secretDefaults: ctx.secretDefaults, now, warnWithinMs: DEFAULT_WARN_WITHIN_MS, config: ctx.config });
    if (h.refreshable) refreshable.add(id);
  }
  for (const line of renderProfileTable(rows, now, refreshable)) printLine(line);
  return 0;
}

/**
 * `models auth remove <profileId>` (05 §5): store `removeProfile` and config `auth.profiles` / `auth.order`.
 * @throws JarvisError not_found, confirmation_required; CancelledError
 */
export async function runAuthRemove(rawId: string, flags: { yes?: boolean }, input: ContextInput): Promise<number> {
  const id = rawId.trim();
  const ctx = loadContext(input);
  const store = writableStore(ctx);
  const p = store.profiles[id];
  const rawEntry = (store.doc?.profiles as Record<string, any> | undefined)?.[id];
  const cfgEntry = ctx.loaded.raw.auth && (ctx.loaded.raw.auth as any).profiles?.[id];
  if (!p && rawEntry === undefined && !cfgEntry) {
    throw new JarvisError("not_found", `Auth profile "${id}" not found in ${store.path}.`);
  }
  const provider = p ? normalizeAuthProviderId(p.provider) : cfgEntry?.provider ?? rawEntry?.provider ?? "?";
  const type = p?.type ?? cfgEntry?.mode ?? rawEntry?.type ?? "?";
  if (!flags.yes) {
    if (!isInteractive()) throw new JarvisError("confirmation_required", "Refusing to remove without confirmation; pass --yes.");
    const ok = await confirm(`Remove auth profile ${id} (${provider}/${type})? This deletes the stored credential. [y/N]`, false);
    if (!ok) {
      log.info("Nothing removed.");
      return 0;
    }
  }
  // A config-only entry touches no store: no lock file, no directories (05 §5).
  const inStore = store.doc !== null && removeProfile(toDict(store.doc) as Record<string, any>, id);
  const { wrote: storeWrote } = inStore
    ? await mutateStore(ctx.agent.storePath, (doc) => {
        if (!doc) return { doc: undefined, result: false };
        const changed = removeProfile(doc, id);
        return { doc: changed ? doc : undefined, result: changed };
      })
    : { wrote: false };
  let cfgChange = { removedEntry: false, orderProviders: [] as string[] };
  await editConfig(
    ctx.paths.configPath,
    (doc) => {
      cfgChange = removeConfigProfile(doc, id);
      return cfgChange.removedEntry || cfgChange.orderProviders.length > 0;
    },
    ctx.show,
  );
  const cfgParts = [
    ...(cfgChange.removedEntry ? ["auth.profiles"] : []),
    ...cfgChange.orderProviders.map((p) => `auth.order.${p}`),
  ];
  printLine(
    `Removed auth profile ${id} (store: ${storeWrote ? "removed" : "not present"}; config: ${cfgParts.length ? `removed from ${cfgParts.join(", ")}` : "not present"}).`,
  );
  return 0;
}

/** `models auth order get` (05 §8): read-only. */
export async function runOrderGet(flags: { provider?: string; json?: boolean }, input: ContextInput, now = Date.now()): Promise<number> {
  const provider = providerFlag(flags.provider);
  const ctx = loadContext(input);
  const store = loadStore(ctx.agent.storePath);
  const storeKey = findProviderKey(store.order, provider);
  const order = storeKey !== undefined ? store.order[storeKey]! : null;
  const cfgKey = findProviderKey(ctx.config.auth?.order, provider);
  const configOrder = cfgKey !== undefined ? (ctx.config.auth!.order![cfgKey] ?? null) : null;
  const effective = resolveOrder(provider, store, ctx.config, now, undefined, ctx.secretDefaults).ids;
  if (flags.json) {
    printJson({ agentId: ctx.agent.agentId, agentDir: ctx.agent.agentDir, provider, authStorePath: store.path, order, configOrder, effectiveOrder: effective });
    return 0;
  }
  const fmt = (l: string[] | null) => (l && l.length ? l.join(", ") : "(none)");
  printLine(`Agent: ${ctx.agent.agentId}`);
  printLine(`Provider: ${provider}`);
  printLine(`Auth file: ${ctx.show(store.path)}`);
  printLine(`Order override: ${fmt(order)}`);
  printLine(`Config order: ${fmt(configOrder)}`);
  printLine(`Effective order: ${fmt(effective)}`);
  return 0;
}

/**
 * Every id must exist in the store and belong to `provider` (05 §9).
 * @throws JarvisError not_found / provider_mismatch
 */
function checkOrderIds(store: AuthStore | null, storePath: string, ids: string[], provider: string): void {
  for (const id of ids) {
    const p = store?.profiles[id];
    if (!p) throw new JarvisError("not_found", `Auth profile "${id}" not found in ${storePath}.`);
    const other = normalizeAuthProviderId(p.provider);
    if (other !== provider) throw new JarvisError("provider_mismatch", `Auth profile "${id}" is for ${other}, not ${provider}.`);
  }
}

/**
 * `models auth order set` (05 §9): every id must exist in the store and belong to the provider; nothing is written
 * otherwise.
 */
export async function runOrderSet(rawIds: string[], flags: { provider?: string }, input: ContextInput, now = Date.now()): Promise<number> {
  const provider = providerFlag(flags.provider);
  // Positional ids only: a comma is legal inside a profile id (03 §1), so it is not a separator.
  const ids = cleanIds(rawIds);
  if (ids.length === 0) throw new UsageError("Missing profile ids. Provide one or more profile ids.");
  const ctx = loadContext(input);
  // Checked before taking the lock too, so a refused set creates no lock file and no directories (05 §9).
  checkOrderIds(writableStore(ctx), ctx.agent.storePath, ids, provider);
  const { result: finalIds } = await mutateStore(ctx.agent.storePath, (doc, store) => {
    checkOrderIds(store, ctx.agent.storePath, ids, provider);
    for (const id of ids) {
      const e = profileEligibility(id, provider, store!, ctx.config, now, ctx.secretDefaults);
      if (!e.eligible) log.warn(`${id} is currently not usable: ${e.reasonCode}`);
    }
    return { doc: setOrder(doc, provider, ids), result: ids };
  });
  printLine(`Agent: ${ctx.agent.agentId}`);
  printLine(`Provider: ${provider}`);
  printLine(`Order override: ${finalIds.join(", ")}`);
  return 0;
}

/** `models auth order clear` (05 §10): nothing to clear → nothing written. */
export async function runOrderClear(flags: { provider?: string }, input: ContextInput): Promise<number> {
  const provider = providerFlag(flags.provider);
  const ctx = loadContext(input);
  const store = writableStore(ctx);
  if (findProviderKey(store.order, provider) !== undefined) {
    await mutateStore(ctx.agent.storePath, (doc) => {
      if (!doc) return { doc: undefined, result: false };
      const changed = clearOrder(doc, provider);
      return { doc: changed ? doc : undefined, result: changed };
    });
  }
  printLine(`Agent: ${ctx.agent.agentId}`);
  printLine(`Provider: ${provider}`);
  printLine("Cleared per-agent order override.");
  return 0;
}
