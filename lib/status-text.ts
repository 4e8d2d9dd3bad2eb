/**
 * Text rendering of the status report (spec 04 §5.1). Pure: report in, lines out.
 */
import { isoTime, short } from "./duration.ts";
import { originLabel, type EnvOrigin } from "./env.ts";
import { refDisplay, type SecretRef } from "./secret-ref.ts";
import { checkItemText, missingAuthHint, type ProfileHealth, type StatusReport } from "./status.ts";

const row = (label: string, value: string) => `${label.padEnd(14)}: ${value}`;
const list = (items: string[]) => (items.length ? items.join(", ") : "-");

function healthLine(h: ProfileHealth): string {
  let line = `- ${h.profileId} ${h.status}`;
  if (h.expiresAt !== undefined && h.remainingMs !== undefined) {
    if (h.status === "expired") line += ` ${short(-h.remainingMs)} ago`;
    else if (h.status === "ok" || h.status === "expiring") line += `, expires in ${short(h.remainingMs)}`;
  }
  if (h.reasonCode && h.reasonCode !== "expired") line += ` (${h.reasonCode}${h.hint ? `: ${h.hint}` : ""})`;
  if (h.refreshable) line += " (refreshable)";
  if (h.external) line += ` [external:${h.external}]`;
  if (h.fix) line += ` — fix: ${h.fix}`;
  return line;
}

/**
 * Render the report as the text of 04 §5.1.
 * @param show `~`-shortening of absolute paths
 * @param stateEnvDisplay display form of `$STATE/.env` for missing-auth hints
 */
export function renderStatusText(r: StatusReport, show: (p: string) => string, stateEnvDisplay: string): string[] {
  const out: string[] = [];
  out.push(row("Config", show(r.configPath)));
  out.push(row("Agent", r.agentId));
  out.push(row("Agent dir", show(r.agentDir)));
  out.push(row("Default", r.resolvedDefault));
  out.push(row(`Fallbacks (${r.fallbacks.length})`, list(r.fallbacks)));
  out.push(row("Image model", r.imageModel ?? "-"));
  out.push(row(`Image fallbacks (${r.imageFallbacks.length})`, list(r.imageFallbacks)));
  const aliases = Object.entries(r.aliases).map(([a, ref]) => `${a} -> ${ref}`);
  out.push(row(`Aliases (${aliases.length})`, list(aliases)));
  out.push(row(`Configured models (${r.allowed.length})`, list(r.allowed)));

  const a = r.auth;
  out.push("", "Auth overview");
  out.push(row("Auth store", show(a.storePath) + (a.storeStatus === "missing" ? " (missing)" : a.storeStatus === "legacy_flat" ? " (legacy flat layout)" : "")));
  out.push(row("Shell env", a.shellEnvFallback.enabled ? `on (applied: ${a.shellEnvFallback.appliedKeys.join(", ") || "none"})` : "off"));
  out.push(`Providers w/ OAuth/tokens (${a.providersWithOAuth.length}): ${list(a.providersWithOAuth)}`);
  for (const p of a.providers) {
    const e = p.effective;
    const eff = e.kind === "profiles" ? `profiles:${e.profileId}` : e.kind === "missing" ? "missing" : `${e.kind}:${e.detail}`;
    const parts = [`- ${p.provider}${p.inUse ? " [in use]" : ""} effective=${eff}`];
    if (p.profiles.count > 0) {
      parts.push(`profiles=${p.profiles.count} (oauth=${p.profiles.oauth}, token=${p.profiles.token}, api_key=${p.profiles.apiKey})`);
      parts.push(p.profiles.labels.join(", "));
    }
    if (p.env) {
      parts.push(`env=${p.env.value}${p.env.keyCount > 1 ? ` (+${p.env.keyCount - 1} more)` : ""}${p.env.shadowed ? " (shadowed)" : ""}`);
      parts.push(`source=${p.env.source} (${originLabel(p.env.origin as EnvOrigin, stateEnvDisplay)})`);
    }
    if (p.config) parts.push(`config=${p.config.value}${p.config.shadowed ? " (shadowed)" : ""}`);
    out.push(parts.join(" | "));
  }

  if (a.unusableProfiles.length) {
    out.push("", "Unusable profiles");
    for (const u of a.unusableProfiles) {
      if (u.kind === "cooldown") {
        out.push(
          `- ${u.profileId} cooldown ${u.reason}${u.model ? ` (model ${u.model})` : ""} ${short(u.remainingMs)}, until ${isoTime(u.until)} — verify now: jarvis models status --probe --probe-profile ${u.profileId}`,
        );
      } else {
        out.push(
          `- ${u.profileId} disabled:${u.reason} ${short(u.remainingMs)}, until ${isoTime(u.until)} — top up credits or fix the key, then verify: jarvis models status --probe --probe-profile ${u.profileId}`,
        );
      }
    }
  }
  if (a.unresolvedRefs.length) {
    out.push("", "Unresolved refs");
    for (const u of a.unresolvedRefs) {
      const shown = isRef(u.ref) ? refDisplay(u.ref) : "ref(invalid)";
      out.push(`- ${u.profileId ?? `${u.provider} ${u.path}`} ${shown}: ${u.error}`);
    }
  }
  if (a.missingProvidersInUse.length) {
    out.push("", "Missing auth");
    for (const p of a.missingProvidersInUse) out.push(`- ${p} ${missingAuthHint(p, stateEnvDisplay)}`);
  }
  if (a.invalidProfiles.length) {
    out.push("", "Invalid profiles");
    for (const i of a.invalidProfiles) out.push(`- ${i.profileId} ${i.reason}: ${i.detail} — fix it or run jarvis models auth remove ${i.profileId}`);
  }
  if (a.legacyFiles.length) {
    out.push("", "Legacy files");
    for (const f of a.legacyFiles) out.push(`- ${show(f)} not used; run jarvis doctor --fix to import`);
  }

  out.push("", `OAuth/token status (warn within ${short(a.oauth.warnAfterMs)})`);
  const tokenish = a.oauth.profiles.filter((h) => h.type !== "api_key");
  if (tokenish.length === 0) out.push("- none");
  let current = "";
  for (const h of tokenish) {
    if (h.provider !== current) {
      current = h.provider;
      out.push(`- ${current}`);
    }
    out.push("  " + healthLine(h));
  }

  if (r.check) {
    const c = r.check;
    out.push("");
    if (c.exitCode === 0) out.push("Check: ok");
    else if (c.exitCode === 2) out.push(`Check: expiring — ${c.warnings.map(checkItemText).join(", ")}`);
    else out.push(`Check: failed — ${c.failures.map(checkItemText).join(", ")}`);
  }
  return out;
}

function isRef(v: unknown): v is SecretRef {
  return !!v && typeof v === "object" && "source" in v && "id" in v;
}

