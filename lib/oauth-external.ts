/**
 * Credentials of other CLIs (spec 08 §5): Claude Code's `.credentials.json` and Codex's `auth.json`, read
 * read-only; imported profiles are external — jarvis re-reads the source when they expire and never spends their
 * refresh token.
 */
import { hasText } from "./_utils.ts";
import fs from "node:fs";
import path from "node:path";
import { expiryState } from "./eligibility.ts";
import { JarvisError } from "./errors.ts";
import { decodeJwt } from "./jwt.ts";
import { registerSecret } from "./mask.ts";
import type { RefreshContext, RefreshOutcome } from "./oauth.ts";
import { mutateStore, updateOAuth } from "./store-write.ts";
import { loadStore, type Profile } from "./store.ts";

const lastExternalRead = new Map<string, number>();

/** Names of the external sources for messages. */
export function externalName(source: string): string {
  return source === "codex" ? "Codex" : "Claude Code";
}

/**
 * Re-read an external profile's source (08 §5), at most once per 60 s per profile per process; update the store when
 * the source has a later expiry. A source that was not renewed is fine while the stored token is still valid.
 */
export async function reReadExternal(ctx: RefreshContext, profileId: string, profile: Profile): Promise<RefreshOutcome> {
  const ext = profile.external!;
  const name = externalName(ext.source);
  const curExp = typeof profile.expires === "number" ? profile.expires : 0;
  const unchanged = (why: string): RefreshOutcome => {
    if (ctx.now() < curExp) return { ok: true, profile, refreshed: false, source: "external" };
    const fix = `open ${name} so it renews its login, then retry (jarvis never refreshes another CLI's credentials)`;
    return { ok: false, permanent: false, reasonCode: "expired", message: `${why}; ${fix}`, detail: why, fix };
  };
  const key = `${ctx.storePath}\0${profileId}`;
  if (ctx.now() - (lastExternalRead.get(key) ?? -Infinity) < 60_000) return unchanged(`the ${name} login of ${profileId} has expired (re-read less than a minute ago)`);
  lastExternalRead.set(key, ctx.now());
  let read: ExternalCredential;
  try {
    read = readExternalFile(ext.source as "claude-code" | "codex", ext.path, ctx.now());
  } catch (e) {
    return unchanged(`cannot re-read ${ext.path}: ${e instanceof JarvisError ? e.message.replace(/\.$/, "") : String(e)}`);
  }
  if (read.kind !== "oauth") return unchanged(`${ext.path} no longer holds OAuth tokens`);
  if (read.expires <= curExp) return unchanged(`the ${name} login in ${ext.path} has expired and was not renewed`);
  const r = read;
  await mutateStore(ctx.storePath, (doc) => {
    if (!doc || !updateOAuth(doc, profileId, { access: r.access, expires: r.expires, accountId: r.accountId, email: r.email })) return { doc: undefined, result: undefined };
    return { doc, result: undefined };
  });
  return { ok: true, profile: loadStore(ctx.storePath).profiles[profileId] ?? profile, refreshed: true, source: "external" };
}

export type ExternalCredential =
  | { kind: "oauth"; access: string; expires: number; accountId?: string; email?: string }
  | { kind: "api_key"; key: string };

/** Default source path of an external CLI (08 §5). */
export function externalPath(source: "claude-code" | "codex", env: Record<string, string | undefined>, home: string): string {
  if (source === "claude-code") return path.join(env.CLAUDE_CONFIG_DIR?.trim() || path.join(home, ".claude"), ".credentials.json");
  return path.join(env.CODEX_HOME?.trim() || path.join(home, ".codex"), "auth.json");
}

/**
 * Read and validate another CLI's credential file (read-only, 08 §5).
 * @throws JarvisError import_missing / import_invalid naming the file and field
 */
export function readExternalFile(source: "claude-code" | "codex", file: string, now: number): ExternalCredential {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    if (source === "claude-code") {
      throw new JarvisError(
        "import_missing",
        `No Claude Code credentials at ${file}. Run \`claude\` and log in first; on macOS Claude Code keeps them in the Keychain, which jarvis does not read — use setup-token instead.`,
      );
    }
    throw new JarvisError("import_missing", `No Codex credentials at ${file}. Run \`codex login\` first.`);
  }
  let doc: any;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new JarvisError("import_invalid", `${file} is not valid JSON.`);
  }
  if (source === "claude-code") {
    const o = doc?.claudeAiOauth;
    if (!o || typeof o !== "object") throw new JarvisError("import_invalid", `${file} has no claudeAiOauth object; no usable tokens in it.`);
    if (!hasText(o.accessToken)) throw new JarvisError("import_invalid", `${file}: claudeAiOauth.accessToken is missing; no usable tokens in it.`);
    const e = expiryState(o.expiresAt, now);
    if (e.state === "none" || e.state === "invalid_expires") {
      throw new JarvisError("import_invalid", `${file}: claudeAiOauth.expiresAt is ${o.expiresAt === undefined ? "missing" : "invalid"}${e.hint ? ` (${e.hint})` : ""}.`);
    }
    // The trimmed value is the one stored and sent, so it is the one the redactor must know.
    const access = o.accessToken.trim();
    registerSecret(access);
    return { kind: "oauth", access, expires: o.expiresAt };
  }
  const t = doc?.tokens;
  if (t && typeof t === "object") {
    if (!hasText(t.access_token)) throw new JarvisError("import_invalid", `${file}: tokens.access_token is missing; no usable tokens in it.`);
    const exp = decodeJwt(t.access_token)?.exp;
    if (typeof exp !== "number") throw new JarvisError("import_invalid", `${file}: tokens.access_token has no exp claim.`);
    const expires = exp * 1000;
    const e = expiryState(expires, now);
    if (e.state === "invalid_expires") throw new JarvisError("import_invalid", `${file}: tokens.access_token exp claim is invalid.`);
    const email = decodeJwt(t.id_token)?.email;
    const access = t.access_token.trim();
    registerSecret(access);
    return { kind: "oauth", access, expires, accountId: typeof t.account_id === "string" ? t.account_id : undefined, email: typeof email === "string" ? email : undefined };
  }
  if (hasText(doc?.OPENAI_API_KEY)) {
    const key = doc.OPENAI_API_KEY.trim();
    registerSecret(key);
    return { kind: "api_key", key };
  }
  throw new JarvisError("import_invalid", `${file} has neither tokens nor OPENAI_API_KEY; no usable tokens in it.`);
}
