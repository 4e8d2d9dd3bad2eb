/**
 * argv handling that cac does not do (spec README "Library pitfalls"): multi-word command names and raw option
 * values (mri turns `--profile-id 007` into 7). Pure functions over string arrays.
 */

/**
 * Rewrite argv so that the longest registered multi-word command name found among the leading positional
 * arguments becomes one token (`models auth list` → `"models auth list"`). Options may stand between the words;
 * the value of an option that takes one is skipped.
 * @param args argv without the runtime and script (`process.argv.slice(2)`)
 * @param commandNames every registered command name (multi-word names contain spaces)
 * @param valueOptions long/short option names (without dashes) that take a value
 */
export function joinCommandWords(args: readonly string[], commandNames: readonly string[], valueOptions: ReadonlySet<string>): string[] {
  const positions: number[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") break;
    if (a.startsWith("-") && a.length > 1) {
      const name = a.replace(/^-+/, "");
      if (!name.includes("=") && valueOptions.has(name)) i++;
      continue;
    }
    positions.push(i);
  }
  const words = positions.map((i) => args[i]!);
  let best: { name: string; n: number } | undefined;
  for (const name of commandNames) {
    const parts = name.split(" ");
    if (parts.length > words.length) continue;
    if (parts.every((p, k) => words[k] === p) && (!best || parts.length > best.n)) best = { name, n: parts.length };
  }
  if (!best || best.n < 2) return [...args];
  const used = new Set(positions.slice(0, best.n));
  const out: string[] = [];
  args.forEach((a, i) => {
    if (i === positions[0]) out.push(best!.name);
    else if (!used.has(i)) out.push(a);
  });
  return out;
}

/**
 * Raw string values of a value option, in argv order (`--name v` and `--name=v`), stopping at `--`.
 * @param names option names without dashes (long name and aliases)
 */
export function rawOptionValues(args: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") break;
    if (!a.startsWith("-")) continue;
    const body = a.replace(/^-+/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (!names.includes(name)) continue;
    if (eq >= 0) out.push(body.slice(eq + 1));
    else if (i + 1 < args.length && !args[i + 1]!.startsWith("-")) out.push(args[++i]!);
  }
  return out;
}

/** The arguments before the first `--` (everything after it is positional, never an option). */
export function beforeDoubleDash(args: readonly string[]): readonly string[] {
  const end = args.indexOf("--");
  return end < 0 ? args : args.slice(0, end);
}

/** The last raw value of an option, or undefined when absent. */
export function rawOption(args: readonly string[], ...names: string[]): string | undefined {
  const v = rawOptionValues(args, names);
  return v.length ? v[v.length - 1] : undefined;
}

/**
 * Attach the value of every value option to its flag (`--warn-within -1h` → `--warn-within=-1h`), so a value that
 * starts with `-` is read as the value (and then rejected by the flag's own validation) instead of as more flags.
 * Stops at `--`. A value option at the very end stays as is (cac then reports the missing value).
 */
export function attachOptionValues(args: readonly string[], valueOptions: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    if (a.startsWith("-") && !a.includes("=") && valueOptions.has(a.replace(/^-+/, "")) && i + 1 < args.length) {
      out.push(`${a}=${args[++i]}`);
      continue;
    }
    out.push(a);
  }
  return out;
}

/**
 * A value option without a value: given last (or right before `--`), e.g. `jarvis --profile`, or with an empty
 * value after `attachOptionValues` (`--provider ""` → `--provider=`).
 * @returns its name (without dashes), or undefined
 */
export function danglingValueOption(args: readonly string[], valueOptions: ReadonlySet<string>): string | undefined {
  const before = beforeDoubleDash(args);
  for (const [i, a] of before.entries()) {
    if (!a.startsWith("-")) continue;
    const empty = a.endsWith("=") && a.indexOf("=") === a.length - 1;
    if (!empty && (a.includes("=") || i !== before.length - 1)) continue;
    const name = a.replace(/^-+/, "").replace(/=$/, "");
    if (valueOptions.has(name)) return name;
  }
  return undefined;
}

/** Dashed option names (`probe-timeout`, `no-browser`, `h`) declared by cac commands. */
export function optionNames(commands: ReadonlyArray<{ options: ReadonlyArray<{ rawName: string }> }>): Set<string> {
  const out = new Set<string>();
  for (const c of commands) {
    for (const o of c.options) {
      for (const n of o.rawName.replace(/[<[].*$/, "").split(",")) out.add(n.trim().replace(/^-+/, ""));
    }
  }
  return out;
}

/**
 * The first option in argv (before `--`) that is not one of `known`, exactly as typed (without a `=value`).
 * @returns undefined when all options are known
 */
export function unknownOption(args: readonly string[], known: ReadonlySet<string>): string | undefined {
  for (const a of args) {
    if (a === "--") break;
    if (!a.startsWith("-") || a === "-") continue;
    const typed = a.split("=")[0]!;
    if (!known.has(typed.replace(/^-+/, ""))) return typed;
  }
  return undefined;
}
