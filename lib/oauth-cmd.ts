/**
 * `models auth login | refresh | import` (spec 05 §6, §7, §11; 08 §2–§5).
 */
import { hasText } from "./_utils.ts";
import { spawn } from "node:child_process";
import readline from "node:readline";
import { loadContext, type Context, type ContextInput } from "./context.ts";
import { editConfig, setDefaultModel, upsertConfigProfile } from "./config-edit.ts";
import { expiryText, short } from "./duration.ts";
import { envRecord } from "./env.ts";
import { CancelledError, errnoCode, JarvisError, UsageError } from "./errors.ts";
import { log, printJson, printLine } from "./log.ts";
import { redact } from "./mask.ts";
import { authorizeUrl, oauthSettings, parsePastedRedirect, pkce, postTokenForm, refreshProfile, tokensFromResponse, type OAuthSettings, type RefreshContext } from "./oauth.ts";
import { externalName, externalPath, readExternalFile } from "./oauth-external.ts";
import { confirm, isInteractive } from "./prompt.ts";
import { isTermux } from "./paths.ts";
import { catalogEntry, normalizeAuthProviderId } from "./providers.ts";
import { mutateStore, upsertProfile, type Credential } from "./store-write.ts";
import { loadStore, isValidProfileId, type Profile } from "./store.ts";
import { providerFlag, profileIdFlag } from "./auth-cmd.ts";

/**
 * Overall login limit in ms (08 §2 step 6): 300 000. Test hook `JARVIS_OAUTH_LOGIN_TIMEOUT_MS` (a positive integer)
 * can only shorten it; anything else is ignored.
 */
function loginTimeoutMs(): number {
  const raw = process.env.JARVIS_OAUTH_LOGIN_TIMEOUT_MS?.trim() ?? "";
  const v = /^\d+$/.test(raw) ? Number(raw) : 0;
  return v > 0 ? Math.min(v, 300_000) : 300_000;
}

function refreshCtx(ctx: Context): RefreshContext {
  return { storePath: ctx.agent.storePath, config: ctx.config, env: envRecord(ctx.env), home: ctx.paths.home, secretDefaults: ctx.secretDefaults, now: Date.now };
}

function stillValid(p: Profile | undefined, stats: { needsRelogin?: unknown } | undefined, now: number): boolean {
  return !!p && p.type === "oauth" && typeof p.expires === "number" && now < p.expires && !stats?.needsRelogin;
}

async function checkReplace(ctx: Context, id: string, force: boolean): Promise<void> {
  if (force) return;
  const store = loadStore(ctx.agent.storePath);
  if (!stillValid(store.profiles[id], store.usageStats[id], Date.now())) return;
  if (!isInteractive()) throw new JarvisError("profile_valid", `Profile ${id} is still valid; pass --force to replace it.`);
  if (!(await confirm(`Profile ${id} is still valid. Log in again and replace it? [y/N]`, false))) throw new CancelledError("Login cancelled; nothing was changed.");
}

function openBrowser(url: string): void {
  const cmd =
    process.platform === "darwin"
      ? ["open", url]
      : isTermux(process.env)
        ? ["termux-open-url", url]
        : process.platform === "win32"
          ? ["cmd", "/c", "start", "", url]
          : process.env.DISPLAY || process.env.WAYLAND_DISPLAY
            ? ["xdg-open", url]
            : undefined;
  if (!cmd) return;
  try {
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: "ignore", detached: true });
    child.on("error", () => {});
    child.unref();
  } catch {
    // a missing opener is not an error (08 §2 step 4)
  }
}

const DONE_PAGE = "<!doctype html><meta charset=utf-8><title>jarvis</title><p>jarvis: login complete. You can close this tab.</p>";

/**
 * Wait for the authorization code (08 §2 steps 3–6): start the loopback callback listener, `announce` the URL, then
 * race the callback against a pasted redirect (TTY only). The loser is cancelled: listeners stopped, prompt closed.
 * @throws JarvisError login_denied / login_timeout / callback_unavailable; CancelledError on Ctrl+C
 */
async function waitForCode(s: OAuthSettings, state: string, announce: () => void): Promise<string> {
  const interactive = isInteractive();
  const servers: Array<{ stop: (force?: boolean) => void }> = [];
  let settle!: (r: { code?: string; error?: Error }) => void;
  const result = new Promise<{ code?: string; error?: Error }>((r) => (settle = r));
  const callbackPath = new URL(s.redirectUri).pathname;
  const fetchHandler = (req: Request): Response => {
    const u = new URL(req.url);
    if (u.pathname !== callbackPath) return new Response("Not found", { status: 404 });
    const err = u.searchParams.get("error");
    if (err) {
      settle({ error: new JarvisError("login_denied", `Authorization was denied: ${err}`) });
      return new Response(`Authorization was denied: ${err}`, { status: 400 });
    }
    if (u.searchParams.get("state") !== state) return new Response("State mismatch", { status: 400 });
    const code = u.searchParams.get("code");
    if (!code) return new Response("Missing code", { status: 400 });
    settle({ code });
    return new Response(DONE_PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
  };
  for (const hostname of ["127.0.0.1", "::1"]) {
    try {
      servers.push(Bun.serve({ hostname, port: s.callbackPort, fetch: fetchHandler }));
    } catch (e) {
      // [::1] is best effort (no IPv6 loopback is fine); 127.0.0.1 is the documented listener.
      if (hostname !== "127.0.0.1") continue;
      const msg = `Cannot listen on 127.0.0.1:${s.callbackPort} (${errnoCode(e) ?? "EADDRINUSE"}); paste the redirect URL instead.`;
      if (!interactive) throw new JarvisError("callback_unavailable", `${msg} Pasting needs a terminal (stdin and stdout); run the login in one, or free the port.`);
      log.warn(msg);
    }
  }
  const limit = loginTimeoutMs();
  const timer = setTimeout(() => settle({ error: new JarvisError("login_timeout", `Login timed out after ${Math.round(limit / 1000)}s.`) }), limit);
  const onSig = () => settle({ error: new CancelledError() });
  process.once("SIGINT", onSig);
  let rl: readline.Interface | undefined;
  try {
    announce();
    if (interactive) {
      rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      rl.on("SIGINT", onSig);
      rl.on("close", onSig);
      const ask = () =>
        rl!.question("Or paste the redirect URL (or code#state) here: ", (answer) => {
          if (!answer.trim()) return ask();
          const r = parsePastedRedirect(answer, state);
          if ("code" in r) settle({ code: r.code });
          else {
            log.warn(r.error);
            ask();
          }
        });
      ask();
    }
    const r = await result;
    if (r.error) throw r.error;
    return r.code!;
  } finally {
    clearTimeout(timer);
    process.off("SIGINT", onSig);
    if (rl) {
      rl.removeAllListeners("close");
      rl.close();
    }
    // Let the success page reach the browser before the listener closes.
    for (const srv of servers) {
      srv.stop(false);
      setTimeout(() => srv.stop(true), 250).unref?.();
    }
  }
}

export interface LoginFlags {
  provider?: string;
  profileId?: string;
  force?: boolean;
  noBrowser?: boolean;
  setDefault?: boolean;
}

/** `models auth login` (05 §11, 08 §2–§3). @returns 0 on success */
export async function runLogin(flags: LoginFlags, input: ContextInput): Promise<number> {
  const provider = providerFlag(flags.provider);
  if (flags.profileId !== undefined) profileIdFlag(flags.profileId, "");
  const ctx = loadContext(input);
  const settings = await oauthSettings(provider, ctx.config, { env: envRecord(ctx.env), home: ctx.paths.home, secretDefaults: ctx.secretDefaults });
  if (flags.profileId !== undefined) await checkReplace(ctx, flags.profileId.trim(), Boolean(flags.force));
  const p = pkce();
  const url = authorizeUrl(settings, p);
  const code = await waitForCode(settings, p.state, () => {
    log.info("Open this URL to log in:");
    log.info(url);
    if (!flags.noBrowser) openBrowser(url);
  });
  const form: Record<string, string> = { grant_type: "authorization_code", client_id: settings.clientId, code, code_verifier: p.verifier, redirect_uri: settings.redirectUri };
  if (settings.clientSecret) form.client_secret = settings.clientSecret;
  const res = await postTokenForm(settings.tokenUrl, form, 15_000);
  if (res.status === 0) throw new JarvisError("token_exchange_failed", `Token exchange failed: ${(res as { error: string }).error}`);
  const body = (res as { body: unknown }).body;
  if (res.status < 200 || res.status >= 300) {
    const b = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
    const error = typeof b.error === "string" ? b.error : hasText(body) ? body.trim().slice(0, 200) : "error";
    const detail = typeof b.error_description === "string" && b.error_description ? `: ${b.error_description}` : "";
    throw new JarvisError("token_exchange_failed", redact(`Token exchange failed: HTTP ${res.status} ${error}${detail}`));
  }
  const tokens = tokensFromResponse(body, Date.now(), settings.accountClaim);
  if (!tokens.refresh) log.warn("no refresh token issued; you will need to log in again when it expires");
  const id = flags.profileId?.trim() ?? (tokens.email && isValidProfileId(`${provider}:${tokens.email}`) ? `${provider}:${tokens.email}` : `${provider}:default`);
  if (flags.profileId === undefined) await checkReplace(ctx, id, Boolean(flags.force));
  const cred: Credential & { clientId?: string } = { type: "oauth", provider, access: tokens.access, expires: tokens.expires, email: tokens.email, accountId: tokens.accountId };
  if (tokens.refresh) cred.refresh = tokens.refresh;
  await mutateStore(ctx.agent.storePath, (doc) => {
    const r = upsertProfile(doc, id, cred);
    (r.doc.profiles[id] as Record<string, unknown>).clientId = settings.clientId;
    return { doc: r.doc, result: undefined };
  });
  const probe = catalogEntry(provider)?.probeModel;
  const defaultRef = probe ? `${provider}/${probe}` : undefined;
  await editConfig(
    ctx.paths.configPath,
    (doc) => {
      let changed = upsertConfigProfile(doc, id, { provider, mode: "oauth", email: tokens.email });
      if (flags.setDefault && defaultRef) changed = setDefaultModel(doc, defaultRef) || changed;
      return changed;
    },
    ctx.show,
  );
  printLine(`Auth profile: ${id} (${provider}/oauth), expires in ${short(tokens.expires - Date.now())}`);
  if (!flags.setDefault && defaultRef) log.info(`Default model available: ${defaultRef} (use --set-default to apply)`);
  return 0;
}

/** `models auth refresh` (05 §6): forced single-flight refresh; external profiles re-read their source. */
export async function runRefresh(flags: { profileId?: string; provider?: string; json?: boolean }, input: ContextInput): Promise<number> {
  if (flags.profileId !== undefined && flags.provider !== undefined) throw new UsageError("Use either --profile-id or --provider, not both.");
  const provider = flags.provider !== undefined ? providerFlag(flags.provider) : undefined;
  const ctx = loadContext(input);
  const store = loadStore(ctx.agent.storePath);
  let ids: string[];
  if (flags.profileId !== undefined) {
    const id = flags.profileId.trim();
    const p = store.profiles[id];
    if (!p) throw new JarvisError("not_found", `Auth profile "${id}" not found in ${store.path}.`);
    if (p.type !== "oauth") throw new JarvisError("not_oauth", `Auth profile "${id}" is type ${p.type}; only OAuth profiles can be refreshed. Store a new value with paste-token.`);
    ids = [id];
  } else {
    ids = Object.keys(store.profiles)
      .filter((id) => store.profiles[id]!.type === "oauth" && (!provider || normalizeAuthProviderId(store.profiles[id]!.provider) === provider))
      .sort();
  }
  if (ids.length === 0) throw new JarvisError("nothing_to_refresh", "No OAuth profiles to refresh.");
  const results: Array<{ profileId: string; provider: string; ok: boolean; expiresAt?: number; error?: string; needsRelogin?: boolean }> = [];
  const lines: string[] = [];
  for (const id of ids) {
    const prof = store.profiles[id]!;
    const prov = normalizeAuthProviderId(prof.provider);
    const r = await refreshProfile(refreshCtx(ctx), id, true);
    const now = Date.now();
    if (r.ok) {
      const exp = typeof r.profile.expires === "number" ? r.profile.expires : undefined;
      results.push({ profileId: id, provider: prov, ok: true, ...(exp !== undefined ? { expiresAt: exp } : {}) });
      const name = prof.external ? externalName(prof.external.source) : "";
      const what = r.source !== "external" ? "refreshed" : r.refreshed ? `updated from ${name}` : `up to date with ${name}`;
      lines.push(`${id}: ${what}${exp !== undefined ? `, expires in ${short(exp - now)}` : ""}`);
    } else {
      const relogin = r.reasonCode === "relogin_required";
      results.push({ profileId: id, provider: prov, ok: false, error: r.message, ...(relogin ? { needsRelogin: true } : {}) });
      const reason = r.detail ?? r.message.replace(/\.? Log in again: .*$/, "").replace(/\.$/, "");
      lines.push(`${id}: failed — ${reason}. Fix: ${r.fix ?? `jarvis models auth login --provider ${prov} --profile-id ${id}`}`);
    }
  }
  if (flags.json) printJson({ results });
  else for (const l of lines) printLine(l);
  return results.every((r) => r.ok) ? 0 : 1;
}

/** `models auth import --from claude-code|codex` (05 §7, 08 §5). */
export async function runImport(flags: { from?: string; profileId?: string }, input: ContextInput): Promise<number> {
  if (flags.from !== "claude-code" && flags.from !== "codex") throw new UsageError("--from must be claude-code or codex.");
  const source = flags.from;
  const ctx = loadContext(input);
  const file = externalPath(source, process.env, ctx.paths.home);
  const now = Date.now();
  const read = readExternalFile(source, file, now);
  let id: string;
  let cred: Credential;
  if (read.kind === "oauth") {
    const provider = source === "claude-code" ? "anthropic" : "openai-codex";
    id = profileIdFlag(flags.profileId, source === "claude-code" ? "anthropic:claude-code" : "openai-codex:codex-cli");
    cred = { type: "oauth", provider, access: read.access, expires: read.expires, accountId: read.accountId, email: read.email, external: { source, path: file, importedAt: now } };
  } else {
    id = profileIdFlag(flags.profileId, "openai:codex-cli");
    cred = { type: "api_key", provider: "openai", key: read.key };
  }
  await mutateStore(ctx.agent.storePath, (doc) => ({ doc: upsertProfile(doc, id, cred).doc, result: undefined }));
  await editConfig(ctx.paths.configPath, (doc) => upsertConfigProfile(doc, id, { provider: cred.provider, mode: cred.type, email: cred.email }), ctx.show);
  if (read.kind === "api_key") printLine(`Imported ${id} from ${file} (API key, stored as a copy).`);
  else {
    printLine(`Imported ${id} from ${file} (${expiryText(read.expires, now)}; jarvis will re-read this file instead of refreshing).`);
  }
  return 0;
}
