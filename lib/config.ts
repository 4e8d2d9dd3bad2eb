/**
 * `jarvis.json` loading (spec 01 §3): JSON5 parse with positions, typebox validation of the keys jarvis reads
 * (never Value.Parse: unknown keys are kept), and `${VAR}` substitution on an in-memory copy (01 §3.2).
 */
import fs from "node:fs";
import JSON5 from "json5";
import { Type, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { JarvisError, errnoCode } from "./errors.ts";
import { validateSecretsConfig } from "./secrets.ts";
import { unescapePointerSegment } from "./secret-ref.ts";
import { dict, toDict } from "./dict.ts";

/** The parts of the config jarvis reads. Everything else is kept but untyped. */
export type ModelSpec = string | { primary?: string; fallbacks?: string[] };

export interface JarvisConfig {
  agents?: {
    defaults?: {
      model?: ModelSpec;
      imageModel?: ModelSpec;
      models?: Record<string, { alias?: string } | undefined>;
    };
    list?: Array<{ id: string; default?: boolean; agentDir?: string; model?: ModelSpec }>;
  };
  auth?: {
    profiles?: Record<string, { provider: string; mode: "api_key" | "token" | "oauth"; email?: string }>;
    order?: Record<string, string[]>;
    cooldowns?: Record<string, unknown>;
    oauth?: Record<string, Record<string, unknown>>;
  };
  models?: {
    providers?: Record<
      string,
      { baseUrl?: string; api?: string; apiKey?: unknown; headers?: Record<string, unknown>; models?: Array<{ id: string; name?: string }> }
    >;
  };
  env?: Record<string, unknown>;
  secrets?: Record<string, unknown>;
  gateway?: { port?: number; bind?: string; auth?: { token?: unknown } };
  [key: string]: unknown;
}

/** Result of reading the config file. `raw` is what is on disk (used for edits); `exists` false → defaults. */
export interface LoadedConfig {
  path: string;
  exists: boolean;
  raw: Record<string, unknown>;
  /** The original bytes, for the backup rule of 01 §4. */
  text: string | null;
  warnings: Array<{ code: string; message: string }>;
}

// Schema options carry `expected`, the phrase used in `Invalid config … <dot.path>: expected …`.
const opt = (expected: string) => ({ expected });
const Str = Type.String(opt("expected string"));
const StrList = Type.Array(Type.String(), opt("expected array of strings"));
const ModelSpecSchema = Type.Union(
  [Type.String(), Type.Object({ primary: Type.Optional(Type.String()), fallbacks: Type.Optional(Type.Array(Type.String())) })],
  opt("expected string or {primary?: string, fallbacks?: string[]}"),
);
const SecretInput = Type.Union([Type.String(), Type.Object({})], opt("expected string or SecretRef object"));
const NumberOpt = Type.Optional(Type.Number(opt("expected number")));

const ConfigSchema = Type.Object({
  agents: Type.Optional(
    Type.Object(
      {
        defaults: Type.Optional(
          Type.Object(
            {
              model: Type.Optional(ModelSpecSchema),
              imageModel: Type.Optional(ModelSpecSchema),
              models: Type.Optional(
                Type.Record(
                  Type.String(),
                  Type.Object({ alias: Type.Optional(Str) }, opt("expected object")),
                  opt("expected object"),
                ),
              ),
            },
            opt("expected object"),
          ),
        ),
        list: Type.Optional(
          Type.Array(
            Type.Object(
              {
                id: Str,
                default: Type.Optional(Type.Boolean(opt("expected boolean"))),
                agentDir: Type.Optional(Str),
                model: Type.Optional(ModelSpecSchema),
              },
              opt("expected object with id"),
            ),
            opt("expected array"),
          ),
        ),
      },
      opt("expected object"),
    ),
  ),
  auth: Type.Optional(
    Type.Object(
      {
        profiles: Type.Optional(
          Type.Record(
            Type.String(),
            Type.Object(
              {
                provider: Str,
                mode: Type.Union([Type.Literal("api_key"), Type.Literal("token"), Type.Literal("oauth")], opt('expected "api_key", "token" or "oauth"')),
                email: Type.Optional(Str),
              },
              opt("expected object {provider, mode}"),
            ),
            opt("expected object"),
          ),
        ),
        order: Type.Optional(Type.Record(Type.String(), StrList, opt("expected object"))),
        cooldowns: Type.Optional(
          Type.Object(
            {
              billingBackoffHours: NumberOpt,
              billingBackoffHoursByProvider: Type.Optional(Type.Record(Type.String(), Type.Number(), opt("expected object of numbers"))),
              billingMaxHours: NumberOpt,
              failureWindowHours: NumberOpt,
              authPermanentBackoffMinutes: NumberOpt,
              authPermanentMaxMinutes: NumberOpt,
              overloadedProfileRotations: NumberOpt,
            },
            opt("expected object"),
          ),
        ),
        oauth: Type.Optional(Type.Record(Type.String(), Type.Object({}, opt("expected object")), opt("expected object"))),
      },
      opt("expected object"),
    ),
  ),
  models: Type.Optional(
    Type.Object(
      {
        providers: Type.Optional(
          Type.Record(
            Type.String(),
            Type.Object(
              {
                baseUrl: Type.Optional(Str),
                api: Type.Optional(
                  Type.Union(
                    ["anthropic-messages", "openai-completions", "openai-responses", "google-generative-ai"].map((l) => Type.Literal(l)),
                    opt('expected one of "anthropic-messages", "openai-completions", "openai-responses", "google-generative-ai"'),
                  ),
                ),
                apiKey: Type.Optional(SecretInput),
                headers: Type.Optional(Type.Record(Type.String(), SecretInput, opt("expected object"))),
                models: Type.Optional(
                  Type.Array(Type.Object({ id: Str, name: Type.Optional(Str) }, opt("expected object with id")), opt("expected array")),
                ),
              },
              opt("expected object"),
            ),
            opt("expected object"),
          ),
        ),
      },
      opt("expected object"),
    ),
  ),
  env: Type.Optional(Type.Object({}, opt("expected object"))),
  secrets: Type.Optional(Type.Object({}, opt("expected object"))),
  gateway: Type.Optional(
    Type.Object(
      {
        port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, expected: "expected integer 1-65535" })),
        bind: Type.Optional(Str),
        auth: Type.Optional(Type.Object({ token: Type.Optional(SecretInput) }, opt("expected object"))),
      },
      opt("expected object"),
    ),
  ),
});

/** JSON pointer (`/a/b~1c`) → dot path (`a.b/c`). */
export function pointerToDotPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map(unescapePointerSegment)
    .join(".");
}

/**
 * Validate the keys jarvis reads (01 §3.1), including the `secrets` block and its limits (06 §3).
 * @returns up to 5 `<dot.path>: <expected …>` lines; empty when valid.
 */
export function validateConfig(doc: unknown): string[] {
  // The `secrets` block has its own rules and limits (06 §3); its validator speaks the same `dot.path: expected …`.
  const secretsProblems = validateSecretsConfig((doc as { secrets?: unknown } | null)?.secrets);
  if (Value.Check(ConfigSchema, doc)) return secretsProblems.slice(0, 5);
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const err of Value.Errors(ConfigSchema, doc)) {
    const where = pointerToDotPath(err.path) || "(top level)";
    // A union failure also reports its branches; keep the first (outermost) error per path.
    if ([...seen].some((p) => where === p || where.startsWith(p + "."))) continue;
    seen.add(where);
    const expected = (err.schema as TSchema & { expected?: string }).expected ?? err.message;
    lines.push(`${where}: ${expected}`);
    if (lines.length >= 5) break;
  }
  return [...lines, ...secretsProblems].slice(0, 5);
}

/**
 * Parse config text (JSON5). Top level must be an object.
 * @throws JarvisError `config_invalid`: `Invalid config <path>: <reason> at line L, column C`
 */
export function parseConfigText(text: string, filePath: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON5.parse(text);
  } catch (e) {
    const err = e as Error & { lineNumber?: number; columnNumber?: number };
    const reason = err.message.replace(/^JSON5: /, "").replace(/ at \d+:\d+$/, "");
    const pos = err.lineNumber !== undefined ? ` at line ${err.lineNumber}, column ${err.columnNumber}` : "";
    throw new JarvisError("config_invalid", `Invalid config ${filePath}: ${reason}${pos}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new JarvisError("config_invalid", `Invalid config ${filePath}: top level must be an object`);
  }
  // Null-prototype maps: profile ids, provider ids and env names in the config are user input.
  return toDict(doc) as Record<string, unknown>;
}

/**
 * Read, parse and validate the config file. A missing file gives all defaults.
 * @throws JarvisError `config_invalid` (exit 1) for unreadable, unparsable or wrongly typed config
 */
export function loadConfig(filePath: string): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(filePath, "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return { path: filePath, exists: false, raw: {}, text: null, warnings: [] };
    throw new JarvisError("config_invalid", `Invalid config ${filePath}: cannot read it (${errnoCode(e) ?? String(e)})`);
  }
  const raw = parseConfigText(text, filePath);
  const problems = validateConfig(raw);
  if (problems.length > 0) {
    throw new JarvisError("config_invalid", `Invalid config ${filePath}: ${problems.join("\n")}`);
  }
  const warnings: LoadedConfig["warnings"] = [];
  if ("$include" in raw || JSON.stringify(raw).includes('"$include"')) {
    warnings.push({ code: "include_unsupported", message: "$include is not supported by jarvis; included files are not read" });
  }
  return { path: filePath, exists: true, raw, text, warnings };
}

/** Config fields that accept a SecretRef (06 §1), as dot-path patterns with `*` for one segment. */
const SECRET_FIELDS = [
  ["models", "providers", "*", "apiKey"],
  ["models", "providers", "*", "headers", "*"],
  ["gateway", "auth", "token"],
  ["auth", "oauth", "*", "clientSecret"],
];

function isSecretField(pathParts: string[]): boolean {
  return SECRET_FIELDS.some((pat) => pat.length === pathParts.length && pat.every((p, i) => p === "*" || p === pathParts[i]));
}

const EXACT_ENV_REF = /^\$\{([A-Z][A-Z0-9_]{0,127})\}$/;
const VAR = /\$(\$?)\{([A-Z_][A-Z0-9_]*)\}/g;

/**
 * `${VAR}` substitution (01 §3.2) on a deep copy of `raw`. The `env` block is left as is (its `${…}` values are
 * skipped by env loading, 02 §1), so a reference there can never stop the command.
 * @param lookup effective env value by name (undefined when unset or blank)
 * @param envRefProvider `secrets.defaults.env`, else `default`
 * @throws JarvisError `config_invalid`: `Config <dot.path> references ${NAME}, which is not set`
 */
export function substituteConfig(
  raw: Record<string, unknown>,
  lookup: (name: string) => string | undefined,
  envRefProvider: string,
): JarvisConfig {
  const walk = (value: unknown, parts: string[]): unknown => {
    if (typeof value === "string") {
      const exact = EXACT_ENV_REF.exec(value);
      if (exact && isSecretField(parts)) return { source: "env", provider: envRefProvider, id: exact[1] };
      if (!value.includes("${")) return value;
      return value.replace(VAR, (_m, escape: string, name: string) => {
        if (escape) return "${" + name + "}";
        const v = lookup(name);
        if (v === undefined) {
          throw new JarvisError("config_invalid", `Config ${parts.join(".")} references \${${name}}, which is not set`);
        }
        return v;
      });
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...parts, String(i)]));
    if (value && typeof value === "object") {
      const out = dict();
      for (const [k, v] of Object.entries(value)) out[k] = parts.length === 0 && k === "env" ? v : walk(v, [...parts, k]);
      return out;
    }
    return value;
  };
  return walk(raw, []) as JarvisConfig;
}
