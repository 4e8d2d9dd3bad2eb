/**
 * Editing `jarvis.json` (spec 01 §4, D3, D11): edits the raw document from disk (never the substituted copy),
 * under `jarvis.json.lock`, writes canonical JSON atomically (0600), and first backs up a file whose bytes are not
 * already in canonical form (comments and JSON5 syntax are not preserved).
 */
import { isDeepStrictEqual } from "node:util";
import JSON5 from "json5";
import { atomicWriteFile, serializeJson, updateJsonFile } from "./atomic.ts";
import { parseConfigText } from "./config.ts";
import { log } from "./log.ts";
import { findProviderKey } from "./providers.ts";
import { dict, toDict } from "./dict.ts";

type Doc = Record<string, any>;

/**
 * Apply `change` to the config at `configPath` (created with only the changed keys when missing).
 * `change` mutates the fresh raw document in place and returns whether it changed anything.
 * @param show display form of a path (`~/…`) for the log lines
 * @returns whether the file was written
 * @throws JarvisError config_invalid (unparsable file), lock_timeout; nothing is written then
 */
export async function editConfig(configPath: string, change: (doc: Doc) => boolean, show: (p: string) => string): Promise<boolean> {
  const { wrote } = await updateJsonFile(configPath, {
    label: "jarvis.json",
    read: (text) => ({ text, doc: text === null ? dict() : (parseConfigText(text, configPath) as Doc) }),
    parseBaseline: (text) => JSON5.parse(text),
    mutate: ({ text, doc }) => {
      const next = toDict(doc);
      // Deep-equal (e.g. only key order differs) counts as unchanged: no backup, no write (01 §4 rule 2).
      if (!change(next) || isDeepStrictEqual(next, doc)) return { doc: undefined, result: undefined };
      if (text !== null && text !== serializeJson(doc)) {
        // The canonical rewrite loses comments/formatting: keep the original bytes first (01 §4 rule 4).
        atomicWriteFile(`${configPath}.bak`, text);
        log.info(`Backed up ${show(configPath)} to ${show(configPath)}.bak (comments and formatting are not preserved)`);
      }
      return { doc: next, result: undefined };
    },
  });
  if (wrote) log.info(`Updated ${show(configPath)}`);
  return wrote;
}

function obj(parent: Doc, key: string): Doc {
  if (!parent[key] || typeof parent[key] !== "object" || Array.isArray(parent[key])) parent[key] = dict();
  return parent[key];
}

/**
 * Upsert `auth.profiles.<id> = {provider, mode, email?}`, keeping other fields of that entry (01 §4 typical edit).
 * @returns whether the document changed
 */
export function upsertConfigProfile(doc: Doc, id: string, meta: { provider: string; mode: string; email?: string }): boolean {
  const profiles = obj(obj(doc, "auth"), "profiles");
  const old = profiles[id] && typeof profiles[id] === "object" ? profiles[id] : {};
  const next = { ...old, provider: meta.provider, mode: meta.mode, ...(meta.email ? { email: meta.email } : {}) };
  if (JSON.stringify(old) === JSON.stringify(next)) return false;
  profiles[id] = next;
  return true;
}

/**
 * Remove `auth.profiles.<id>` and the id from every `auth.order` list (empty lists deleted) (05 §5).
 * @returns the providers whose `auth.order` list changed, and whether the profile entry existed
 */
export function removeConfigProfile(doc: Doc, id: string): { removedEntry: boolean; orderProviders: string[] } {
  const auth = doc.auth && typeof doc.auth === "object" ? doc.auth : undefined;
  let removedEntry = false;
  const orderProviders: string[] = [];
  if (auth?.profiles && typeof auth.profiles === "object" && id in auth.profiles) {
    delete auth.profiles[id];
    removedEntry = true;
  }
  if (auth?.order && typeof auth.order === "object") {
    for (const [p, list] of Object.entries(auth.order)) {
      if (!Array.isArray(list) || !list.includes(id)) continue;
      const rest = list.filter((x) => x !== id);
      if (rest.length) auth.order[p] = rest;
      else delete auth.order[p];
      orderProviders.push(p);
    }
  }
  return { removedEntry, orderProviders };
}

/** Set `agents.defaults.model.primary` (keeps a `{primary, fallbacks}` object, replaces a string). */
export function setDefaultModel(doc: Doc, ref: string): boolean {
  const defaults = obj(obj(doc, "agents"), "defaults");
  const cur = defaults.model;
  if (cur && typeof cur === "object") {
    if (cur.primary === ref) return false;
    cur.primary = ref;
  } else {
    if (cur === ref) return false;
    defaults.model = { primary: ref };
  }
  return true;
}

/** The explicit `auth.order` list of the raw config for provider P (keys compared normalised, 02 §3), or undefined. */
export function configOrderFor(doc: Doc, providerId: string): string[] | undefined {
  const order = doc.auth?.order;
  const key = findProviderKey(order, providerId);
  return key !== undefined && Array.isArray(order[key]) ? order[key] : undefined;
}
