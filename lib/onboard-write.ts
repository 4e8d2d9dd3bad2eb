/**
 * Writing and verifying what `jarvis onboard` stores (spec 09 §2.2 writes, §2.3 verification and output): the write
 * plan, the `.env` / store / config writes in one pass, the read-back through the same loaders `models status` uses,
 * and the result line or JSON document.
 */
import fs from "node:fs";
import path from "node:path";
import { loadContext, type Context, type ContextInput } from "./context.ts";
import { editConfig, setDefaultModel, upsertConfigProfile } from "./config-edit.ts";
import { formatDotenvValue, upsertDotenvFile } from "./dotenv-edit.ts";
import { envRecord, originLabel, parseDotenv } from "./env.ts";
import { envCredentialList } from "./env-keys.ts";
import { JarvisError } from "./errors.ts";
import { log, printJson, printLine } from "./log.ts";
import { resolveOrder, storeProfileIds } from "./order.ts";
import { findProviderKey } from "./providers.ts";
import { resolveSecretRef } from "./secrets.ts";
import { assertNotLegacyFlat, mutateStore, upsertProfile, type Credential } from "./store-write.ts";
import { loadStore } from "./store.ts";

type Doc = Record<string, any>;

/** The env var of a custom endpoint's key (09 §2.2: a custom id has no catalog env var). */
export const CUSTOM_ENV_VAR = "CUSTOM_API_KEY";

/** `{source: "env", provider: "default", id}` — the ref onboard writes (09 §2.2). */
export const envRef = (id: string) => ({ source: "env" as const, provider: "default", id });

/** What onboard writes; built from flags (non-interactive) or answers (wizard). */
export interface WritePlan {
  authChoice: string;
  provider: string;
  mode: "plaintext" | "ref";
  /** `--store` in effect; the only values 09 §2.3 allows for `stored`. */
  store: "profile" | "env";
  /**
   * Set when no credential is stored at all: a loopback custom endpoint without a key, which uses the synthetic local
   * key `custom-local` of its config entry (02 §4.2).
   */
  credential?: "custom-local";
  profile?: { id: string; cred: Credential };
  dotenv?: { name: string; value: string };
  envVar?: string;
  custom?: { id: string; baseUrl: string; api: string; modelId: string; apiKeyRef: boolean };
  defaultModel?: string;
  /** The secret the stored credential must resolve to (verification). */
  value?: string;
}

/** Upsert `models.providers.<id>` of a custom endpoint (keeps other fields; adds the model id once). */
function upsertCustomProvider(doc: Doc, c: NonNullable<WritePlan["custom"]>): boolean {
  doc.models = doc.models && typeof doc.models === "object" ? doc.models : {};
  doc.models.providers = doc.models.providers && typeof doc.models.providers === "object" ? doc.models.providers : {};
  const key = findProviderKey(doc.models.providers, c.id) ?? c.id;
  const old: Doc = doc.models.providers[key] && typeof doc.models.providers[key] === "object" ? doc.models.providers[key] : {};
  const models: Doc[] = Array.isArray(old.models) ? [...old.models] : [];
  if (!models.some((m) => m && m.id === c.modelId)) models.push({ id: c.modelId });
  const next: Doc = { ...old, baseUrl: c.baseUrl, api: c.api, models };
  if (c.apiKeyRef) next.apiKey = envRef(CUSTOM_ENV_VAR);
  const changed = JSON.stringify(old) !== JSON.stringify(next);
  doc.models.providers[key] = next;
  return changed;
}

/** Refuse early (before any write) what would fail half-way: an unwritable store, an ambiguous `.env` value. */
function preflight(ctx: Context, plan: WritePlan): void {
  if (plan.dotenv) formatDotenvValue(plan.dotenv.name, plan.dotenv.value);
  if (plan.profile) assertNotLegacyFlat(loadStore(ctx.agent.storePath));
}

/** Write the plan: `.env`, then the store, then the config (one edit). Warnings per 09 §2.2 on stderr. */
export async function writePlan(ctx: Context, plan: WritePlan, processEnv: Record<string, string | undefined>): Promise<void> {
  preflight(ctx, plan);
  const envPath = path.join(ctx.paths.stateDir, ".env");
  if (plan.dotenv) {
    const { name, value } = plan.dotenv;
    await upsertDotenvFile(envPath, name, value);
    if ((processEnv[name] ?? "").trim() !== "") {
      log.warn(`${name} is also set in this shell; that value wins over ${ctx.show(envPath)} for commands started from this shell.`);
    }
    if (!plan.profile) {
      let ids: string[] = [];
      try {
        ids = storeProfileIds(loadStore(ctx.agent.storePath), plan.provider);
      } catch {
        // an unreadable store is not this command's concern when only .env is written
      }
      if (ids.length) log.warn(`${plan.provider} has auth profiles (${ids.join(", ")}); they take precedence over ${name} in ${ctx.show(envPath)}.`);
    }
  }
  if (plan.profile) {
    const { id, cred } = plan.profile;
    await mutateStore(ctx.agent.storePath, (doc) => ({ doc: upsertProfile(doc, id, cred).doc, result: undefined }));
  }
  if (plan.profile || plan.custom || plan.defaultModel) {
    await editConfig(
      ctx.paths.configPath,
      (doc) => {
        let changed = false;
        if (plan.profile) changed = upsertConfigProfile(doc, plan.profile.id, { provider: plan.profile.cred.provider, mode: plan.profile.cred.type, email: plan.profile.cred.email }) || changed;
        if (plan.custom) changed = upsertCustomProvider(doc, plan.custom) || changed;
        if (plan.defaultModel) changed = setDefaultModel(doc, plan.defaultModel) || changed;
        return changed;
      },
      ctx.show,
    );
  }
}

/** The `verification_failed` error of 09 §2.3 (exit 1): `Verification failed: <expected> — <found>`. */
export const fail = (expected: string, found: string) => new JarvisError("verification_failed", `Verification failed: ${expected} — ${found}`);

function private0600(file: string): boolean {
  try {
    return (fs.statSync(file).mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/**
 * Verify (09 §2.3): re-read store, config and `.env` from disk, resolve the stored credential as `models status`
 * would, check modes; warn when another credential wins over it.
 * @throws JarvisError verification_failed (exit 1)
 */
export async function verifyPlan(input: ContextInput, plan: WritePlan, now = Date.now()): Promise<void> {
  const ctx = loadContext(input);
  const envPath = path.join(ctx.paths.stateDir, ".env");
  if (plan.dotenv) {
    let parsed: Record<string, string> = {};
    try {
      parsed = parseDotenv(fs.readFileSync(envPath, "utf8"));
    } catch {
      throw fail(`${ctx.show(envPath)} with ${plan.dotenv.name}`, "the file cannot be read");
    }
    if (parsed[plan.dotenv.name] !== plan.dotenv.value) throw fail(`${plan.dotenv.name} in ${ctx.show(envPath)} set to the new value`, "it reads back differently");
    if (!private0600(envPath)) throw fail(`${ctx.show(envPath)} with mode 0600`, "it is readable by group/others");
  }
  const store = loadStore(ctx.agent.storePath);
  if (plan.profile) {
    const { id, cred } = plan.profile;
    const p = store.profiles[id];
    if (!p) throw fail(`auth profile ${id} in ${ctx.show(store.path)}`, "it is missing or invalid");
    if (!private0600(store.path)) throw fail(`${ctx.show(store.path)} with mode 0600`, "it is readable by group/others");
    if (cred.keyRef !== undefined) {
      const ref = envRefFrom(p.keyRef);
      if (!ref) throw fail(`${id} with keyRef ${JSON.stringify(cred.keyRef)}`, "it has no valid keyRef");
      const r = await resolveSecretRef(ref, { env: envRecord(ctx.env), home: ctx.paths.home, config: ctx.config, allowExec: true });
      if (!r.ok) throw fail(`${id} resolving through ref(env:${ref.id})`, r.error);
    } else {
      const stored = cred.type === "api_key" ? p.key : cred.type === "token" ? p.token : p.access;
      if (stored !== plan.value) throw fail(`${id} holding the new credential`, "it holds a different value");
    }
  }
  if (plan.profile || plan.custom || plan.defaultModel) {
    if (!private0600(ctx.paths.configPath)) throw fail(`${ctx.show(ctx.paths.configPath)} with mode 0600`, "it is missing or readable by group/others");
  }
  if (plan.custom && findProviderKey(ctx.config.models?.providers, plan.custom.id) === undefined) {
    throw fail(`models.providers.${plan.custom.id} in ${ctx.show(ctx.paths.configPath)}`, "it is missing");
  }
  // Who wins now (a warning, not a failure).
  const order = resolveOrder(plan.provider, store, ctx.config, now, undefined, ctx.secretDefaults);
  if (plan.profile) {
    if (!order.ids.includes(plan.profile.id)) {
      log.warn(`${plan.profile.id} is not used: the explicit order for ${plan.provider} does not list it${order.ids[0] ? ` (${order.ids[0]} is used)` : ""}.`);
    } else if (order.ids[0] !== plan.profile.id) log.warn(`auth profile ${order.ids[0]} wins over ${plan.profile.id} for ${plan.provider}.`);
  } else if (plan.dotenv) {
    if (order.ids[0]) log.warn(`auth profile ${order.ids[0]} wins over ${plan.dotenv.name} in ${ctx.show(envPath)} for ${plan.provider}.`);
    else {
      const first = envCredentialList(plan.provider, ctx.env.vars).entries[0];
      const sameShellVar = first && first.var === plan.dotenv.name && first.origin === "process";
      if (first && !sameShellVar && (first.var !== plan.dotenv.name || first.origin !== "state-dotenv")) {
        log.warn(`${first.var} from ${originLabel(first.origin, ctx.show(envPath))} wins over ${plan.dotenv.name} in ${ctx.show(envPath)}.`);
      }
    }
  }
}

function envRefFrom(v: unknown): { source: "env"; provider: string; id: string } | undefined {
  const r = v as { source?: unknown; provider?: unknown; id?: unknown } | undefined;
  return r && r.source === "env" && typeof r.id === "string" ? { source: "env", provider: typeof r.provider === "string" ? r.provider : "default", id: r.id } : undefined;
}

/** Print the success result of 09 §2.3. */
export function printResult(ctx: Context, plan: WritePlan, json: boolean): void {
  const envPath = path.join(ctx.paths.stateDir, ".env");
  if (json) {
    // `stored` keeps the 09 §2.3 enum ("profile" | "env") even when nothing was stored: it is then the `--store` in
    // effect, with neither `profileId` nor `envFile`, and the extra `credential: "custom-local"` says that the endpoint
    // runs on the synthetic local key of its config entry. (Inventing a third `stored` value would break consumers that
    // switch on the documented enum; pretending a profile was written would be false.)
    const doc: Record<string, unknown> = { ok: true, authChoice: plan.authChoice, provider: plan.provider, stored: plan.store };
    if (plan.credential) doc.credential = plan.credential;
    if (plan.profile) doc.profileId = plan.profile.id;
    if (plan.dotenv) doc.envFile = envPath;
    if (plan.envVar) doc.envVar = plan.envVar;
    doc.secretInputMode = plan.mode;
    if (plan.defaultModel) doc.defaultModel = plan.defaultModel;
    doc.verified = true;
    printJson(doc);
    return;
  }
  if (plan.credential) printLine(`Configured ${plan.provider} (${plan.custom!.baseUrl}) without an API key (loopback); verified.`);
  else if (plan.store === "env") printLine(`Stored ${plan.provider} credential in ${ctx.show(envPath)} (${plan.dotenv!.name}); verified.`);
  else printLine(`Stored ${plan.provider} credential in auth store profile ${plan.profile!.id}; verified.`);
  if (plan.defaultModel) printLine(`Default model: ${plan.defaultModel}`);
}

/** Next steps (09 §2.1 step 6), on stderr. */
export function logNextSteps(): void {
  log.info("Next: jarvis models status · jarvis gateway · jarvis monitor install --systemd|--cron|--termux");
}
