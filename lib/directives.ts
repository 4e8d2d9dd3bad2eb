/**
 * Chat directives answered by the gateway itself (spec 07 §4, D17): `/model` picker, selection, `<ref>@<profileId>`
 * pins, `/new`, `/reset`. Pure: parse text and decide the session change and the reply.
 */
import type { JarvisConfig } from "./config.ts";
import { isInCooldown, unusableUntil } from "./cooldown.ts";
import { isoTime } from "./duration.ts";
import { own } from "./dict.ts";
import { credentialEligibility } from "./eligibility.ts";
import { aliasMap, refString, resolveModelRef, splitModelRef, type ModelChain, type ModelRef } from "./models.ts";
import { catalogEntry, findProviderKey, normalizeAuthProviderId } from "./providers.ts";
import type { Session } from "./sessions.ts";
import type { SecretRefDefaults } from "./secret-ref.ts";
import type { AuthStore } from "./store.ts";

export type Directive =
  | { kind: "list" }
  | { kind: "status" }
  | { kind: "select"; n: number }
  | { kind: "set"; arg: string }
  | { kind: "new" }
  | { kind: "reset" };

/**
 * Parse the trimmed text of the last user message. Command names are case-insensitive and may be followed by `:`.
 * @returns undefined when the text is not a directive
 */
export function parseDirective(text: string): Directive | undefined {
  const m = /^\/(models?|new|reset)(?::|\b)\s*([\s\S]*)$/i.exec(text.trim());
  if (!m) return undefined;
  const cmd = m[1]!.toLowerCase();
  const arg = m[2]!.trim();
  if (cmd === "new" || cmd === "reset") return arg ? undefined : { kind: cmd };
  if (cmd === "models") return arg === "" || arg.toLowerCase() === "list" ? { kind: "list" } : undefined;
  if (arg === "" || arg.toLowerCase() === "list") return { kind: "list" };
  if (arg.toLowerCase() === "status") return { kind: "status" };
  if (/^\d+$/.test(arg)) return { kind: "select", n: Number(arg) };
  return { kind: "set", arg };
}

export interface PickerEntry {
  ref: string;
  alias?: string;
  isDefault: boolean;
}

/**
 * Picker entries (07 §4.2): default, fallbacks, `agents.defaults.models` keys, provider models; de-duplicated.
 * With a non-empty `agents.defaults.models`, provider models it does not list are left out: every entry the picker
 * shows can be selected (`isAllowed`).
 */
export function pickerEntries(config: JarvisConfig, chain: ModelChain): PickerEntry[] {
  const resolve = (raw: string) => {
    const r = resolveModelRef(raw, config, chain);
    return r ? refString(r) : undefined;
  };
  const def = resolve(chain.defaultModel);
  const raws = [chain.defaultModel, ...chain.fallbacks, ...Object.keys(config.agents?.defaults?.models ?? {})];
  for (const [p, prov] of Object.entries(config.models?.providers ?? {})) for (const m of prov?.models ?? []) if (m?.id) raws.push(`${p}/${m.id}`);
  const aliasByRef = new Map<string, string>();
  for (const [alias, ref] of Object.entries(aliasMap(config))) {
    const r = splitModelRef(ref);
    if (r) aliasByRef.set(refString(r), alias);
  }
  const out: PickerEntry[] = [];
  for (const raw of raws) {
    const ref = resolve(raw);
    if (!ref || out.some((e) => e.ref === ref) || !isAllowed(ref, { config, chain })) continue;
    out.push({ ref, alias: aliasByRef.get(ref), isDefault: ref === def });
  }
  return out;
}

/** Render the numbered picker (07 §4.2). */
function renderPicker(entries: PickerEntry[], current: string): string {
  const lines = [`Models (current: ${current})`];
  entries.forEach((e, i) => {
    const tags = [e.isDefault ? "default" : undefined, e.alias].filter(Boolean);
    lines.push(`${i + 1}. ${e.ref}${tags.length ? ` (${tags.join(", ")})` : ""}${e.ref === current ? " *" : ""}`);
  });
  lines.push("Use /model <number>, /model <provider/model> or /model <alias>; add @<profileId> to pin a credential, e.g. /model sonnet@anthropic:work.");
  return lines.join("\n");
}

export interface DirectiveContext {
  config: JarvisConfig;
  chain: ModelChain;
  store: AuthStore;
  session: Session;
  now: number;
  secretDefaults: SecretRefDefaults;
}

export interface DirectiveOutcome {
  reply: string;
  /** Next session (null = delete), or undefined for no change. */
  session?: Session | null;
}

function isAlias(arg: string, config: JarvisConfig): boolean {
  return Object.keys(aliasMap(config)).some((a) => a.toLowerCase() === arg.toLowerCase());
}

/** Known provider: in the catalog or under `models.providers`. */
function knownProvider(p: string, config: JarvisConfig): boolean {
  return catalogEntry(p) !== undefined || findProviderKey(config.models?.providers, p) !== undefined;
}

/**
 * Split `<ref>@<profileId>` (07 §4.1).
 * @returns the model ref and optional profile id, or an error reply
 */
function splitPin(arg: string, ctx: Pick<DirectiveContext, "config" | "chain" | "store">): { ref?: ModelRef; profileId?: string; error?: string } {
  const { config, chain, store } = ctx;
  if (isAlias(arg, config) || !arg.includes("@")) return { ref: resolveModelRef(arg, config, chain) };
  let otherProvider: { id: string; other: string; p: string } | undefined;
  let rightmost: { prefixRef?: ModelRef; suffix: string } | undefined;
  for (let i = arg.lastIndexOf("@"); i > 0; i = arg.lastIndexOf("@", i - 1)) {
    const prefix = arg.slice(0, i);
    const suffix = arg.slice(i + 1);
    const ref = resolveModelRef(prefix, config, chain);
    if (!rightmost) rightmost = { prefixRef: ref, suffix };
    if (ref && suffix) {
      const p = own(store.profiles, suffix);
      if (p) {
        const prov = normalizeAuthProviderId(p.provider);
        if (prov === ref.provider) return { ref, profileId: suffix };
        otherProvider ??= { id: suffix, other: prov, p: ref.provider };
      }
    }
  }
  if (otherProvider) return { error: `Auth profile "${otherProvider.id}" belongs to ${otherProvider.other}, not ${otherProvider.p}.` };
  const P = rightmost?.prefixRef?.provider;
  if (P && rightmost!.suffix.startsWith(`${P}:`)) return { error: `Auth profile "${rightmost!.suffix}" not found for provider ${P}.` };
  return { ref: resolveModelRef(arg, config, chain) };
}

/** The default model ref of the chain. */
function defaultRef(ctx: Pick<DirectiveContext, "config" | "chain">): string {
  const r = resolveModelRef(ctx.chain.defaultModel, ctx.config, ctx.chain);
  return r ? refString(r) : ctx.chain.defaultModel;
}

/**
 * Whether `refText` may be selected (01 §3.3 `allowed`, 07 §5 step 1): every model when `agents.defaults.models` is
 * empty; else its keys plus the agent's own chain. 07 §5 step 1 always allows the default model; the fallbacks are
 * allowed for the same reason: the runtime runs them on every request anyway, and the picker (07 §4.2) lists them,
 * so an entry it offers must be selectable.
 */
function isAllowed(refText: string, ctx: Pick<DirectiveContext, "config" | "chain">): boolean {
  const keys = Object.keys(ctx.config.agents?.defaults?.models ?? {});
  if (keys.length === 0) return true;
  const refOf = (raw: string, resolve: boolean) => {
    const r = resolve ? resolveModelRef(raw, ctx.config, ctx.chain) : splitModelRef(raw);
    return r ? refString(r) : raw;
  };
  if (keys.some((k) => refOf(k, false) === refText)) return true;
  return [ctx.chain.defaultModel, ...ctx.chain.fallbacks].some((raw) => refOf(raw, true) === refText);
}

export type ModelArg =
  | { ok: true; ref: ModelRef; refText: string; profileId?: string }
  | { ok: false; code: "model_not_found" | "model_not_allowed" | "auth_profile_not_found" | "auth_profile_mismatch"; message: string };

/**
 * Resolve a `/model` argument or a request `model` value (07 §2, §4.1): split the pin, check the provider is known
 * and the model allowed (the agent's default and fallbacks always are, see `isAllowed`).
 */
export function resolveModelArg(arg: string, ctx: Pick<DirectiveContext, "config" | "chain" | "store">): ModelArg {
  const split = splitPin(arg, ctx);
  if (split.error) return { ok: false, code: split.error.includes(" belongs to ") ? "auth_profile_mismatch" : "auth_profile_not_found", message: split.error };
  const ref = split.ref;
  if (!ref || !knownProvider(ref.provider, ctx.config)) return { ok: false, code: "model_not_found", message: `Unknown model "${arg}". Send /model to list configured models.` };
  const refText = refString(ref);
  if (!isAllowed(refText, ctx)) return { ok: false, code: "model_not_allowed", message: `Model "${refText}" is not in agents.defaults.models.` };
  return { ok: true, ref, refText, profileId: split.profileId };
}

/**
 * Apply a `/model <arg>` (or a picker selection) to the session (07 §3–§4).
 */
function setModel(arg: string, ctx: DirectiveContext): DirectiveOutcome {
  const m = resolveModelArg(arg, ctx);
  if (!m.ok) return { reply: m.message };
  const { ref, refText } = m;
  const def = defaultRef(ctx);
  const next: Session = { ...ctx.session };
  if (refText === def) delete next.modelOverride;
  else next.modelOverride = refText;
  if (m.profileId) {
    const id = m.profileId;
    const p = own(ctx.store.profiles, id)!;
    const e = credentialEligibility(p, own(ctx.store.usageStats, id), ctx.now, ctx.secretDefaults);
    if (!e.eligible) return { reply: `Auth profile "${id}" is not usable: ${e.reasonCode}.` };
    next.authProfileOverride = id;
    next.authProfileOverrideSource = "user";
    let reply = `Model set to ${refText} with auth profile ${id} (pinned for this session).`;
    if (isInCooldown(own(ctx.store.usageStats, id), ref.provider, ctx.now, ref.model)) {
      reply += ` Note: it is in cooldown until ${isoTime(unusableUntil(own(ctx.store.usageStats, id))!)}.`;
    }
    return { reply, session: next };
  }
  if (next.authProfileOverrideSource === "user") {
    delete next.authProfileOverride;
    delete next.authProfileOverrideSource;
  }
  return { reply: refText === def ? `Model reset to the default: ${def}.` : `Model set to ${refText}.`, session: next };
}

/** Current model of a session: its override, else the default. */
export function currentModel(ctx: DirectiveContext): string {
  return ctx.session.modelOverride ?? defaultRef(ctx);
}

/**
 * Answer a directive other than `/model status` (which needs runtime data; see gateway.ts).
 */
export function answerDirective(d: Directive, ctx: DirectiveContext): DirectiveOutcome {
  switch (d.kind) {
    case "list":
      return { reply: renderPicker(pickerEntries(ctx.config, ctx.chain), currentModel(ctx)) };
    case "select": {
      const entries = pickerEntries(ctx.config, ctx.chain);
      const e = entries[d.n - 1];
      if (!e) return { reply: `No model #${d.n}; there are ${entries.length}. Send /model to list them.` };
      return setModel(e.ref, ctx);
    }
    case "set":
      return setModel(d.arg, ctx);
    case "new":
      return { reply: "New session started.", session: null };
    case "reset":
      return { reply: "Session reset.", session: null };
    case "status":
      return { reply: "" };
  }
}
