/**
 * `jarvis secrets audit` report builder (spec 06 §5). Pure: the caller reads the files, loads the stores, resolves
 * the refs this module lists (`auditRefsToResolve`, exec only with `--allow-exec`) and passes everything in.
 * Never puts a secret value in a finding: plaintext findings name the file and JSON path only.
 */
import { isPlainObject, hasText } from "./_utils.ts";
import { profileRef } from "./eligibility.ts";
import { catalogEnvVarNames, isCredentialEnvName, normalizeAuthProviderId } from "./providers.ts";
import { coerceSecretRef, refKey, type SecretRef, type SecretRefDefaults } from "./secret-ref.ts";
import { describeSecretFailure, type SecretResolution } from "./secrets.ts";
import type { AuthStore } from "./store.ts";

/** Everything the audit looks at, already read from disk. */
export interface SecretsAuditInput {
  /** Absolute config path (scanned when `config` is not null). */
  configPath: string;
  /** The config as parsed from disk, before `${VAR}` substitution (so `${NAME}` fields are seen as env refs); null = no file. */
  config: Record<string, unknown> | null;
  /** `$STATE/.env`: absolute path and text, or null when the file does not exist. */
  dotenv: { path: string; text: string } | null;
  /** Loaded stores (store.ts) of every scanned agent; `status: "missing"` stores are skipped. */
  stores: AuthStore[];
  /** Absolute paths of legacy files that exist: `<agentDir>/auth.json`, `$STATE/credentials/oauth.json`. */
  legacyFiles: string[];
  /** Normalised provider ids that have eligible auth profiles (03 §6), for `REF_SHADOWED`. */
  providersWithEligibleProfiles: Iterable<string>;
  /** `secrets.defaults`, for legacy refs and `${NAME}` strings (06 §2). */
  secretDefaults: SecretRefDefaults;
}

export type AuditCode = "PLAINTEXT_FOUND" | "REF_UNRESOLVED" | "REF_SHADOWED" | "LEGACY_RESIDUE";

export interface AuditFinding {
  code: AuditCode;
  severity: "warn" | "error";
  /** Absolute path. */
  file: string;
  jsonPath: string;
  message: string;
  provider?: string;
  profileId?: string;
}

/** The `--json` document of 06 §5. */
export interface SecretsAuditReport {
  version: 1;
  status: "clean" | "findings" | "unresolved";
  filesScanned: string[];
  resolution: { refsChecked: number; skippedExecRefs: number; resolvabilityComplete: boolean };
  summary: { plaintextCount: number; unresolvedRefCount: number; shadowedRefCount: number; legacyResidueCount: number };
  findings: AuditFinding[];
}

/** One place a ref (or something ref-shaped but invalid) was found. */
export type RefSite = {
  file: string;
  jsonPath: string;
  provider?: string;
  profileId?: string;
  /** Config `models.providers.<p>.apiKey`: a config credential, subject to `REF_SHADOWED`. */
  configCredential?: boolean;
} & ({ ref: SecretRef } | { error: string });

const SENSITIVE_HEADER = /authorization|api-key|x-api-key|token|secret|password|credential/i;
const SECRET_ENV_SUFFIX = /_(API_KEY|TOKEN|SECRET)$/;
const DOTENV_LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/;
// Non-secret values `models.providers.<p>.apiKey` may hold (02 §4.2).
const API_KEY_MARKERS = new Set(["secretref-managed", "ollama-local", "custom-local"]);
const MARKER_NAME = /^[A-Z][A-Z0-9_]*_(API_KEY|TOKEN)$/;

/** A known secret env name (06 §5): a catalog/credential name or one ending `_API_KEY`, `_TOKEN`, `_SECRET`. */
function isSecretEnvName(name: string): boolean {
  return isCredentialEnvName(name) || SECRET_ENV_SUFFIX.test(name);
}

/** A config string that is stored as a secret at rest: non-blank, no `${…}` (env-sourced), not a ref string. */
function isPlaintext(value: unknown): value is string {
  return hasText(value) && !value.includes("${");
}

function isApiKeyMarker(value: string): boolean {
  const v = value.trim();
  return API_KEY_MARKERS.has(v) || catalogEnvVarNames().includes(v) || MARKER_NAME.test(v);
}

/** The value part of a `.env` line as dotenv reads it: quoted content, else up to an inline ` #` comment. */
function dotenvValue(raw: string): string {
  const v = raw.trim();
  const quote = v[0];
  if (quote === '"' || quote === "'" || quote === "`") {
    const end = v.indexOf(quote, 1);
    return end > 0 ? v.slice(1, end) : v.slice(1);
  }
  const hash = v.search(/\s#/);
  return (hash >= 0 ? v.slice(0, hash) : v.startsWith("#") ? "" : v).trim();
}

function configRefSites(input: SecretsAuditInput): RefSite[] {
  return configSecretRefSites(input.config, input.configPath, input.secretDefaults);
}

/**
 * Every SecretRef site of a config document (06 §1 config fields): `models.providers.<p>.apiKey` and `.headers.<name>`,
 * `gateway.auth.token`, `auth.oauth.<p>.clientSecret` — valid refs (`{ref}`) and ref-shaped but invalid values
 * (`{error}`). The one enumeration for `secrets audit` and doctor's `auth.unresolved_ref`.
 * @param config the config as parsed, before `${VAR}` substitution (`${NAME}` in these fields is an env ref); null = none
 * @param configPath absolute path, reported as each site's `file`
 */
export function configSecretRefSites(config: Record<string, unknown> | null, configPath: string, defaults: SecretRefDefaults): RefSite[] {
  if (config === null) return [];
  const file = configPath;
  const sites: RefSite[] = [];
  const add = (value: unknown, jsonPath: string, extra: Partial<RefSite> = {}) => {
    const c = coerceSecretRef(value, defaults);
    if (c === null) return;
    sites.push({ file, jsonPath, ...extra, ...("ref" in c ? { ref: c.ref } : { error: c.error }) } as RefSite);
  };
  const models = isPlainObject(config.models) ? config.models : {};
  const providers = isPlainObject(models.providers) ? models.providers : {};
  for (const [p, entry] of Object.entries(providers)) {
    if (!isPlainObject(entry)) continue;
    const provider = normalizeAuthProviderId(p);
    add(entry.apiKey, `models.providers.${p}.apiKey`, { provider, configCredential: true });
    if (isPlainObject(entry.headers)) {
      for (const [name, value] of Object.entries(entry.headers)) add(value, `models.providers.${p}.headers.${name}`, { provider });
    }
  }
  const gateway = isPlainObject(config.gateway) ? config.gateway : {};
  if (isPlainObject(gateway.auth)) add(gateway.auth.token, "gateway.auth.token");
  const auth = isPlainObject(config.auth) ? config.auth : {};
  if (isPlainObject(auth.oauth)) {
    for (const [p, entry] of Object.entries(auth.oauth)) {
      if (isPlainObject(entry)) add(entry.clientSecret, `auth.oauth.${p}.clientSecret`, { provider: normalizeAuthProviderId(p) });
    }
  }
  return sites;
}

function storeRefSites(input: SecretsAuditInput): RefSite[] {
  const sites: RefSite[] = [];
  for (const store of input.stores) {
    if (store.status === "missing") continue;
    for (const [profileId, profile] of Object.entries(store.profiles)) {
      const r = profileRef(profile, input.secretDefaults);
      if (r === undefined) continue;
      const field = profile.type === "api_key" ? "keyRef" : "tokenRef";
      const base = { file: store.path, jsonPath: `profiles.${profileId}.${field}`, provider: normalizeAuthProviderId(profile.provider), profileId };
      sites.push("ref" in r ? { ...base, ref: r.ref } : { ...base, error: r.error });
    }
  }
  return sites;
}

/**
 * The refs the audit needs resolved: every ref in the stores (`keyRef`/`tokenRef`) and the config (apiKey, headers,
 * `gateway.auth.token`, `auth.oauth.<id>.clientSecret`). Pass them to `resolveSecretRefs` (with `allowExec` =
 * `--allow-exec`) and the resulting map to `auditSecrets`.
 */
export function auditRefsToResolve(input: SecretsAuditInput): SecretRef[] {
  const refs = new Map<string, SecretRef>();
  for (const site of [...storeRefSites(input), ...configRefSites(input)]) if ("ref" in site) refs.set(refKey(site.ref), site.ref);
  return [...refs.values()];
}

function plaintextFindings(input: SecretsAuditInput): AuditFinding[] {
  const out: AuditFinding[] = [];
  const warn = (file: string, jsonPath: string, message: string, extra: Partial<AuditFinding> = {}) =>
    out.push({ code: "PLAINTEXT_FOUND", severity: "warn", file, jsonPath, message, ...extra });
  for (const store of input.stores) {
    if (store.status === "missing") continue;
    for (const [profileId, p] of Object.entries(store.profiles)) {
      const extra = { provider: normalizeAuthProviderId(p.provider), profileId };
      // OAuth access/refresh are not reported: they cannot be refs (D14).
      if (p.type === "api_key" && isPlaintext(p.key)) warn(store.path, `profiles.${profileId}.key`, "Auth profile API key is stored as plaintext.", extra);
      if (p.type === "token" && isPlaintext(p.token)) warn(store.path, `profiles.${profileId}.token`, "Auth profile token is stored as plaintext.", extra);
    }
  }
  const config = input.config;
  if (config !== null) {
    const file = input.configPath;
    const models = isPlainObject(config.models) ? config.models : {};
    const providers = isPlainObject(models.providers) ? models.providers : {};
    for (const [p, entry] of Object.entries(providers)) {
      if (!isPlainObject(entry)) continue;
      const provider = normalizeAuthProviderId(p);
      if (isPlaintext(entry.apiKey) && !isApiKeyMarker(entry.apiKey)) {
        warn(file, `models.providers.${p}.apiKey`, "Provider API key is stored as plaintext in the config.", { provider });
      }
      if (isPlainObject(entry.headers)) {
        for (const [name, value] of Object.entries(entry.headers)) {
          if (SENSITIVE_HEADER.test(name) && isPlaintext(value)) {
            warn(file, `models.providers.${p}.headers.${name}`, `Sensitive header "${name}" is stored as plaintext in the config.`, { provider });
          }
        }
      }
    }
    const gateway = isPlainObject(config.gateway) ? config.gateway : {};
    if (isPlainObject(gateway.auth) && isPlaintext(gateway.auth.token)) {
      warn(file, "gateway.auth.token", "Gateway token is stored as plaintext in the config.");
    }
    const env = isPlainObject(config.env) ? config.env : {};
    const envEntries: Array<[string, unknown, string]> = [
      ...Object.entries(isPlainObject(env.vars) ? env.vars : {}).map(([n, v]): [string, unknown, string] => [n, v, `env.vars.${n}`]),
      ...Object.entries(env)
        .filter(([n]) => n !== "vars" && n !== "shellEnv")
        .map(([n, v]): [string, unknown, string] => [n, v, `env.${n}`]),
    ];
    for (const [name, value, jsonPath] of envEntries) {
      if (isSecretEnvName(name.trim()) && isPlaintext(value)) {
        warn(file, jsonPath, `Secret env var ${name.trim()} is stored as plaintext in the config env block.`);
      }
    }
  }
  if (input.dotenv !== null) {
    for (const line of input.dotenv.text.split(/\r?\n/)) {
      const m = DOTENV_LINE.exec(line);
      if (m && isSecretEnvName(m[1]!) && dotenvValue(m[2]!) !== "") {
        warn(input.dotenv.path, `$env.${m[1]}`, `Secret env var ${m[1]} is stored as plaintext in .env.`);
      }
    }
  }
  return out;
}

/**
 * Build the 06 §5 report.
 * @param resolved outcomes of `auditRefsToResolve(input)` keyed by `refKey`; a skipped (or absent) outcome counts in
 *   `skippedExecRefs`, never as `REF_UNRESOLVED`
 * @returns the `--json` document; `status` is `unresolved` if any `REF_UNRESOLVED`, else `findings` if any, else `clean`
 */
export function auditSecrets(input: SecretsAuditInput, resolved: ReadonlyMap<string, SecretResolution>): SecretsAuditReport {
  const findings: AuditFinding[] = plaintextFindings(input);
  const eligible = new Set(input.providersWithEligibleProfiles);
  let refsChecked = 0;
  let skippedExecRefs = 0;
  for (const site of [...storeRefSites(input), ...configRefSites(input)]) {
    // Key order of the 06 §5 example: code, severity, file, jsonPath, message, then provider / profileId.
    const finding = (code: AuditCode, severity: AuditFinding["severity"], message: string): AuditFinding => ({
      code,
      severity,
      file: site.file,
      jsonPath: site.jsonPath,
      message,
      provider: site.provider,
      profileId: site.profileId,
    });
    if ("error" in site) {
      refsChecked++;
      findings.push(finding("REF_UNRESOLVED", "error", `Invalid secret reference (${site.error}).`));
      continue;
    }
    const outcome = resolved.get(refKey(site.ref));
    if (outcome === undefined || (!outcome.ok && outcome.skipped)) skippedExecRefs++;
    else {
      refsChecked++;
      if (!outcome.ok) findings.push(finding("REF_UNRESOLVED", "error", describeSecretFailure(site.ref, outcome.error)));
    }
    if (site.configCredential && site.provider !== undefined && eligible.has(site.provider)) {
      findings.push(
        finding("REF_SHADOWED", "warn", `Config credential ref is shadowed: provider ${site.provider} has eligible auth profiles, which take precedence.`),
      );
    }
  }
  for (const file of input.legacyFiles) {
    findings.push({ code: "LEGACY_RESIDUE", severity: "warn", file, jsonPath: "$", message: "Legacy credential file is present; run jarvis doctor --fix to import it." });
  }
  for (const store of input.stores) {
    if (store.status === "legacy_flat") {
      findings.push({ code: "LEGACY_RESIDUE", severity: "warn", file: store.path, jsonPath: "$", message: "Auth store uses the legacy flat format; run jarvis doctor --fix to migrate it." });
    }
  }
  // Optional fields are dropped rather than serialised as undefined, so the JSON has the documented keys only.
  const clean = findings.map((f) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as unknown as AuditFinding);
  const count = (code: AuditCode) => clean.filter((f) => f.code === code).length;
  const summary = {
    plaintextCount: count("PLAINTEXT_FOUND"),
    unresolvedRefCount: count("REF_UNRESOLVED"),
    shadowedRefCount: count("REF_SHADOWED"),
    legacyResidueCount: count("LEGACY_RESIDUE"),
  };
  const filesScanned = [
    ...(input.config !== null ? [input.configPath] : []),
    ...(input.dotenv !== null ? [input.dotenv.path] : []),
    ...input.stores.filter((s) => s.status !== "missing").map((s) => s.path),
  ].sort();
  return {
    version: 1,
    status: summary.unresolvedRefCount > 0 ? "unresolved" : clean.length > 0 ? "findings" : "clean",
    filesScanned: [...new Set(filesScanned)],
    resolution: { refsChecked, skippedExecRefs, resolvabilityComplete: skippedExecRefs === 0 },
    summary,
    findings: clean,
  };
}

/**
 * Text output of 06 §5: the summary line, one `- [<CODE>] <file>:<jsonPath> <message>` line per finding, and the
 * exec note when exec refs were skipped.
 * @param showPath display form of a path (home → `~`, 01 §1)
 */
export function renderSecretsAuditText(report: SecretsAuditReport, showPath: (p: string) => string = (p) => p): string[] {
  const s = report.summary;
  const lines = [
    `Secrets audit: ${report.status}. plaintext=${s.plaintextCount}, unresolved=${s.unresolvedRefCount}, ` +
      `shadowed=${s.shadowedRefCount}, legacy=${s.legacyResidueCount}.`,
    ...report.findings.map((f) => `- [${f.code}] ${showPath(f.file)}:${f.jsonPath} ${f.message}`),
  ];
  const skipped = report.resolution.skippedExecRefs;
  if (skipped > 0) lines.push(`Note: ${skipped} exec refs were not checked (pass --allow-exec to run exec providers).`);
  return lines;
}

/**
 * Exit code of `secrets audit` (06 §5, D8): 1 for any `REF_UNRESOLVED` or a file that could not be scanned;
 * 2 with `--check` and any other finding; else 0.
 */
export function secretsAuditExitCode(report: SecretsAuditReport, opts: { check: boolean; scanFailed: boolean }): 0 | 1 | 2 {
  if (report.summary.unresolvedRefCount > 0 || opts.scanFailed) return 1;
  if (opts.check && report.findings.length > 0) return 2;
  return 0;
}
