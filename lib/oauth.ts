/**
 * OAuth (spec 08): provider settings, PKCE, token responses and single-flight refresh across processes. External
 * profiles (credentials of other CLIs) are re-read by oauth-external.ts, never refreshed.
 */
import { hasText, isLoopbackUrl } from "./_utils.ts";
import { createHash, randomBytes } from "node:crypto";
import { ofetch } from "ofetch";
import type { JarvisConfig } from "./config.ts";
import { lockStillHeld, lockTimingFromEnv, reacquireLock, releaseLock, withFileLock, type LockHandle, type LockTiming } from "./lock.ts";
import { JarvisError } from "./errors.ts";
import { decodeJwt } from "./jwt.ts";
import { reReadExternal } from "./oauth-external.ts";
import { log } from "./log.ts";
import { registerSecret, redact } from "./mask.ts";
import { normalizeSecret } from "./normalize.ts";
import { findProviderKey, normalizeAuthProviderId } from "./providers.ts";
import { coerceSecretRef, refKey, type SecretRefDefaults } from "./secret-ref.ts";
import { resolveSecretRefs } from "./secrets.ts";
import { markFailure, mutateStore, setNeedsRelogin, updateOAuth } from "./store-write.ts";
import { loadStore, type Profile } from "./store.ts";

export interface OAuthSettings {
  provider: string;
  authorizeUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  redirectUri: string;
  callbackPort: number;
  authorizeParams: Record<string, string>;
  /** JWT claim holding `{chatgpt_account_id}` (openai-codex). */
  accountClaim?: string;
}

const CODEX_DEFAULTS = {
  authorizeUrl: "https://auth.openai.com/oauth/authorize",
  tokenUrl: "https://auth.openai.com/oauth/token",
  scopes: ["openid", "profile", "email", "offline_access"],
  authorizeParams: { id_token_add_organizations: "true", originator: "jarvis" },
  accountClaim: "https://api.openai.com/auth",
};

/** Configured OAuth provider ids (those with a `clientId`). */
export function oauthProviderIds(config: JarvisConfig): string[] {
  return Object.entries(config.auth?.oauth ?? {})
    .filter(([, v]) => v && hasText(v.clientId))
    .map(([k]) => normalizeAuthProviderId(k))
    .sort();
}

/**
 * Settings of an OAuth provider (08 §1): built-in defaults for openai-codex, then `auth.oauth.<id>`.
 * @throws JarvisError no_oauth (exit 1) when the provider has no login, or a URL is not https (loopback http allowed)
 */
export async function oauthSettings(
  providerId: string,
  config: JarvisConfig,
  resolveCtx: { env: Record<string, string>; home: string; secretDefaults: SecretRefDefaults },
): Promise<OAuthSettings> {
  const key = findProviderKey(config.auth?.oauth, providerId);
  const cfg = (key !== undefined ? config.auth!.oauth![key] : undefined) ?? {};
  const base = providerId === "openai-codex" ? CODEX_DEFAULTS : undefined;
  const clientId = typeof cfg.clientId === "string" ? cfg.clientId.trim() : "";
  if (!clientId) {
    const ids = oauthProviderIds(config);
    throw new JarvisError(
      "no_oauth",
      `Provider "${providerId}" has no OAuth login. OAuth providers: ${ids.length ? ids.join(", ") : "none"}. For API keys use paste-token or onboard.`,
    );
  }
  const str = (k: string, d?: string) => (hasText(cfg[k]) ? cfg[k].trim() : d);
  const authorizeUrl = str("authorizeUrl", base?.authorizeUrl);
  const tokenUrl = str("tokenUrl", base?.tokenUrl);
  if (!authorizeUrl || !tokenUrl) throw new JarvisError("no_oauth", `auth.oauth.${providerId} needs authorizeUrl and tokenUrl.`);
  for (const [name, u] of [["authorizeUrl", authorizeUrl], ["tokenUrl", tokenUrl]] as const) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new JarvisError("config_invalid", `auth.oauth.${providerId}.${name} is not a URL.`);
    }
    if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackUrl(url))) {
      throw new JarvisError("config_invalid", `auth.oauth.${providerId}.${name} must use https:// (http:// only for loopback hosts).`);
    }
  }
  const port = typeof cfg.callbackPort === "number" && Number.isInteger(cfg.callbackPort) && cfg.callbackPort >= 1 && cfg.callbackPort <= 65535 ? cfg.callbackPort : 1455;
  let clientSecret: string | undefined;
  if (cfg.clientSecret !== undefined) {
    const c = coerceSecretRef(cfg.clientSecret, resolveCtx.secretDefaults);
    if (c && "ref" in c) {
      const r = (await resolveSecretRefs([c.ref], { env: resolveCtx.env, home: resolveCtx.home, config, allowExec: true })).get(refKey(c.ref))!;
      if (!r.ok) throw new JarvisError("oauth_secret_unresolved", `auth.oauth.${providerId}.clientSecret: ${r.error}`);
      clientSecret = r.value;
    } else if (typeof cfg.clientSecret === "string") clientSecret = cfg.clientSecret;
    registerSecret(clientSecret);
  }
  const scopes = Array.isArray(cfg.scopes) ? (cfg.scopes as unknown[]).filter((s): s is string => typeof s === "string") : (base?.scopes ?? []);
  const params: Record<string, string> = { ...(base?.authorizeParams ?? {}) };
  if (cfg.authorizeParams && typeof cfg.authorizeParams === "object") {
    for (const [k, v] of Object.entries(cfg.authorizeParams as Record<string, unknown>)) if (typeof v === "string") params[k] = v;
  }
  return {
    provider: providerId,
    authorizeUrl,
    tokenUrl,
    clientId,
    clientSecret,
    scopes,
    redirectUri: str("redirectUri", `http://127.0.0.1:${port}/auth/callback`)!,
    callbackPort: port,
    authorizeParams: params,
    accountClaim: base?.accountClaim,
  };
}

const b64url = (b: Buffer) => b.toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** PKCE verifier (43 chars), S256 challenge and a 32-hex state, from a CSPRNG (08 §2 step 1). */
export function pkce(): { verifier: string; challenge: string; state: string } {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash("sha256").update(verifier).digest()), state: randomBytes(16).toString("hex") };
}

/** The authorize URL of 08 §2 step 2. */
export function authorizeUrl(s: OAuthSettings, p: { challenge: string; state: string }): string {
  const u = new URL(s.authorizeUrl);
  u.searchParams.set("response_type", "code");
  u.searchParams.set("client_id", s.clientId);
  u.searchParams.set("redirect_uri", s.redirectUri);
  if (s.scopes.length) u.searchParams.set("scope", s.scopes.join(" "));
  u.searchParams.set("code_challenge", p.challenge);
  u.searchParams.set("code_challenge_method", "S256");
  u.searchParams.set("state", p.state);
  for (const [k, v] of Object.entries(s.authorizeParams)) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * Parse a pasted redirect (08 §2 step 5): full URL, `code#state`, a query string with `code=`, or a bare code.
 * @returns the code, or an error when a present state differs from ours
 */
export function parsePastedRedirect(input: string, state: string): { code: string } | { error: string } {
  const text = input.trim();
  let code: string | null = null;
  let got: string | null = null;
  if (/^https?:\/\//i.test(text)) {
    try {
      const u = new URL(text);
      code = u.searchParams.get("code");
      got = u.searchParams.get("state");
    } catch {
      return { error: "That is not a valid URL." };
    }
  } else if (text.includes("code=")) {
    const q = new URLSearchParams(text.replace(/^[^?]*\?/, ""));
    code = q.get("code");
    got = q.get("state");
  } else if (text.includes("#")) {
    [code, got] = text.split("#", 2) as [string, string];
  } else code = text;
  if (!code) return { error: "No authorization code found; paste the whole redirect URL." };
  if (got !== null && got !== state) return { error: "State mismatch; paste the URL from this login attempt." };
  return { code };
}

export interface OAuthTokens {
  access: string;
  refresh?: string;
  expires: number;
  email?: string;
  accountId?: string;
  idToken?: string;
}

/**
 * Validate a token endpoint response (08 §3): `access_token` required (normalised), `expires_in` seconds →
 * absolute ms, else the access token's JWT `exp` × 1000.
 * @throws JarvisError token_invalid
 */
export function tokensFromResponse(body: unknown, now: number, accountClaim?: string): OAuthTokens {
  if (!body || typeof body !== "object") throw new JarvisError("token_invalid", "token response is not a JSON object");
  const b = body as Record<string, unknown>;
  if (typeof b.access_token !== "string") throw new JarvisError("token_invalid", "token response has no access_token");
  const n = normalizeSecret(b.access_token, { mode: "value", what: "access_token" });
  if (!n.ok) throw new JarvisError("token_invalid", `token response: ${n.message}`);
  const access = n.value;
  registerSecret(access);
  let refresh: string | undefined;
  if (hasText(b.refresh_token)) {
    refresh = b.refresh_token.trim();
    registerSecret(refresh);
  }
  const claims = decodeJwt(access);
  let expires: number;
  const ei = typeof b.expires_in === "string" ? Number(b.expires_in) : b.expires_in;
  if (typeof ei === "number" && Number.isFinite(ei) && ei > 0) expires = now + Math.round(ei * 1000);
  else if (typeof claims?.exp === "number") expires = claims.exp * 1000;
  else throw new JarvisError("token_invalid", "token response has no expires_in and the access token has no exp claim");
  const idToken = typeof b.id_token === "string" ? b.id_token : undefined;
  const idClaims = decodeJwt(idToken);
  const email = (typeof idClaims?.email === "string" ? idClaims.email : undefined) ?? (typeof claims?.email === "string" ? claims.email : undefined);
  let accountId: string | undefined;
  if (accountClaim) {
    const c = (idClaims?.[accountClaim] ?? claims?.[accountClaim]) as Record<string, unknown> | undefined;
    if (c && typeof c.chatgpt_account_id === "string") accountId = c.chatgpt_account_id;
  }
  return { access, refresh, expires, email, accountId, idToken };
}

/**
 * POST a form to the token endpoint, `retry: 0`, with a timeout (08 §3–§4).
 * @returns status and parsed JSON body (or text)
 */
export async function postTokenForm(tokenUrl: string, form: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: unknown } | { status: 0; error: string }> {
  try {
    const res = await ofetch.raw(tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams(form).toString(),
      retry: 0,
      ignoreResponseError: true,
      responseType: "text",
      timeout: timeoutMs,
    });
    const text = typeof res._data === "string" ? res._data : "";
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // keep text
    }
    return { status: res.status, body };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    return { status: 0, error: /abort|timeout/i.test(err.name + err.message) ? `timed out after ${timeoutMs} ms` : `network error (${err.cause?.code ?? err.name})` };
  }
}

/** Refresh timing (08 §4): timeout clamped to ≤ stale/2; the refresh-lock wait outlasts one refresh. */
function refreshTiming(env: Record<string, string | undefined>): { timeoutMs: number; lock: LockTiming } {
  const base = lockTimingFromEnv(env);
  const raw = Number(env.JARVIS_OAUTH_REFRESH_TIMEOUT_MS);
  let timeoutMs = Number.isInteger(raw) && raw > 0 ? raw : 15_000;
  timeoutMs = Math.min(timeoutMs, Math.floor(base.staleMs / 2));
  return { timeoutMs, lock: { staleMs: base.staleMs, waitMs: timeoutMs + 5_000 } };
}

/** Path of the per-profile refresh lock target (its `.lock` is the lock file, 08 §4). */
function refreshLockTarget(storePath: string, profileId: string): string {
  return `${storePath}.oauth-${createHash("sha256").update(profileId).digest("hex").slice(0, 16)}`;
}

export type RefreshOutcome =
  | { ok: true; profile: Profile; refreshed: boolean; source: "token_endpoint" | "other_process" | "external" }
  | {
      ok: false;
      permanent: boolean;
      reasonCode: string;
      message: string;
      /** For external profiles: what went wrong and what to do, separately (05 §6 `failed — <reason>. Fix: <fix>`). */
      detail?: string;
      fix?: string;
    };

const inFlight = new Map<string, Promise<RefreshOutcome>>();

/**
 * Permanent refresh failure (08 §4 table): HTTP 400/401 with `error` = `invalid_grant`, or any response whose code or
 * message mentions `refresh_token_reused`, `already been used` or `revoked`.
 * @returns the needsRelogin reason: `refresh_token_reused` when that text appears anywhere, else the OAuth `error`
 */
function isPermanent(status: number, body: unknown): { reason: string } | undefined {
  const text = typeof body === "string" ? body : JSON.stringify(body ?? "");
  const err = body && typeof body === "object" ? (body as Record<string, unknown>).error : undefined;
  const code = typeof err === "string" ? err : err && typeof err === "object" ? String((err as Record<string, unknown>).code ?? (err as Record<string, unknown>).type ?? "") : "";
  if (!((status === 400 || status === 401) && code === "invalid_grant") && !/refresh_token_reused|already been used|revoked/i.test(text)) return undefined;
  return { reason: /refresh_token_reused/i.test(text) ? "refresh_token_reused" : code || "invalid_grant" };
}

/**
 * 08 §4 step 4: before writing, make sure the refresh lock still holds our `{pid, createdAt}`; if another process
 * took it over (it judged us stale), take it again — waiting for a live holder up to the lock wait — so our write
 * does not interleave with its refresh. The tokens are written either way (the old refresh token is spent).
 * @returns a lock we re-created and must release ourselves, or undefined (still ours, or not regained in time)
 */
async function holdRefreshLock(h: LockHandle, label: string, timing: LockTiming): Promise<LockHandle | undefined> {
  if (lockStillHeld(h)) return undefined;
  log.warn(`the OAuth refresh lock ${h.lockPath} was taken over during the refresh; taking it again before storing the new tokens`);
  try {
    return await reacquireLock(h, label, timing);
  } catch {
    return undefined;
  }
}

export interface RefreshContext {
  storePath: string;
  config: JarvisConfig;
  env: Record<string, string>;
  home: string;
  secretDefaults: SecretRefDefaults;
  now: () => number;
}

/**
 * Refresh an OAuth profile once across processes (08 §4). Concurrent callers in this process share one promise;
 * other processes wait on the refresh lock and then find the new token (no network call).
 * @param force refresh even when still valid (`models auth refresh`)
 */
export function refreshProfile(ctx: RefreshContext, profileId: string, force: boolean): Promise<RefreshOutcome> {
  const key = `${ctx.storePath}\0${profileId}`;
  const existing = inFlight.get(key);
  if (existing) return existing;
  const p = doRefresh(ctx, profileId, force).finally(() => inFlight.delete(key));
  inFlight.set(key, p);
  return p;
}

async function doRefresh(ctx: RefreshContext, profileId: string, force: boolean): Promise<RefreshOutcome> {
  const timing = refreshTiming(ctx.env);
  const fresh = () => loadStore(ctx.storePath).profiles[profileId];
  const first = fresh();
  if (!first || first.type !== "oauth") return { ok: false, permanent: false, reasonCode: "profile_missing", message: `Auth profile "${profileId}" is not an OAuth profile in ${ctx.storePath}.` };
  if (first.external) return reReadExternal(ctx, profileId, first);
  const provider = normalizeAuthProviderId(first.provider);
  try {
    return await withFileLock(
      refreshLockTarget(ctx.storePath, profileId),
      async (handle) => {
        const cur = fresh();
        if (!cur || cur.type !== "oauth") return { ok: false, permanent: false, reasonCode: "profile_missing", message: `Auth profile "${profileId}" is gone.` };
        const expires = typeof cur.expires === "number" ? cur.expires : 0;
        if (!force && ctx.now() < expires - 60_000) return { ok: true, profile: cur, refreshed: false, source: "other_process" };
        if (!cur.refresh) {
          return { ok: false, permanent: true, reasonCode: "expired", message: `Auth profile ${profileId} has no refresh token. Log in again: jarvis models auth login --provider ${provider} --profile-id ${profileId}` };
        }
        const settings = await oauthSettings(provider, ctx.config, ctx);
        const form: Record<string, string> = { grant_type: "refresh_token", refresh_token: cur.refresh, client_id: (typeof cur.clientId === "string" && cur.clientId) || settings.clientId };
        if (settings.clientSecret) form.client_secret = settings.clientSecret;
        const res = await postTokenForm(settings.tokenUrl, form, timing.timeoutMs);
        if (res.status >= 200 && res.status < 300) {
          const tokens = tokensFromResponse((res as { body: unknown }).body, ctx.now(), settings.accountClaim);
          const regained = await holdRefreshLock(handle, `OAuth refresh for ${profileId}`, timing.lock);
          try {
            await mutateStore(ctx.storePath, (doc) => {
              if (!doc || !updateOAuth(doc, profileId, tokens)) return { doc: undefined, result: undefined };
              return { doc, result: undefined };
            });
          } finally {
            if (regained) releaseLock(regained);
          }
          return { ok: true, profile: fresh() ?? cur, refreshed: true, source: "token_endpoint" };
        }
        const perm = res.status !== 0 ? isPermanent(res.status, (res as { body: unknown }).body) : undefined;
        if (perm) {
          const again = fresh();
          if (again && ((typeof again.expires === "number" && again.expires > expires) || again.refresh !== cur.refresh)) {
            return { ok: true, profile: again, refreshed: false, source: "other_process" };
          }
          await mutateStore(ctx.storePath, (doc) => {
            if (!doc) return { doc: undefined, result: undefined };
            setNeedsRelogin(doc, profileId, perm.reason, ctx.now());
            markFailure(doc, profileId, "auth_permanent", ctx.now(), ctx.config);
            return { doc, result: undefined };
          });
          return {
            ok: false,
            permanent: true,
            reasonCode: "relogin_required",
            message: `OAuth refresh for ${profileId} was rejected (${perm.reason}). Log in again: jarvis models auth login --provider ${provider} --profile-id ${profileId}`,
          };
        }
        const detail = res.status === 0 ? (res as { error: string }).error : `HTTP ${res.status}`;
        return { ok: false, permanent: false, reasonCode: "refresh_failed", message: redact(`OAuth token refresh failed for ${provider}: ${detail}. Please try again or re-authenticate.`) };
      },
      { label: `OAuth refresh for ${profileId}`, timing: timing.lock },
    );
  } catch (e) {
    if (e instanceof JarvisError && e.code === "lock_timeout") {
      const m = /locked by pid (\S+) since (\S+) \((.*?)\)/.exec(e.message);
      return { ok: false, permanent: false, reasonCode: "lock_timeout", message: m ? `OAuth refresh for ${profileId} is locked by pid ${m[1]} since ${m[2]} (${m[3]}).` : e.message };
    }
    if (e instanceof JarvisError) return { ok: false, permanent: false, reasonCode: e.code, message: e.message };
    throw e;
  }
}
