import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { atomicWriteFile, removeDeadTempFiles, serializeJson, updateJsonFile } from "../lib/atomic.ts";
import { JarvisError } from "../lib/errors.ts";
import type { LockTiming } from "../lib/lock.ts";

const ATOMIC_TS = path.resolve(import.meta.dir, "../lib/atomic.ts");
const FAST: LockTiming = { staleMs: 5_000, waitMs: 300 };

let root: string;
let savedUmask: number;
let n = 0;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "jarvis-atomic-"));
  savedUmask = process.umask(0o022);
});
afterAll(() => {
  process.umask(savedUmask);
  fs.rmSync(root, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = path.join(root, `case-${n++}`);
  fs.mkdirSync(dir);
  return dir;
}

function mode(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

/** Sets a file's mtime well into the past so "not rewritten" is observable at any timestamp resolution. */
function backdate(file: string): number {
  const t = (Date.now() - 3_600_000) / 1000;
  fs.utimesSync(file, t, t);
  return fs.statSync(file).mtimeMs;
}

type Doc = Record<string, unknown>;
const readJson = (text: string | null): Doc => (text === null ? {} : (JSON.parse(text) as Doc));

describe("serializeJson", () => {
  test("2-space indent and trailing newline", () => {
    expect(serializeJson({ a: 1, b: [true] })).toBe('{\n  "a": 1,\n  "b": [\n    true\n  ]\n}\n');
  });
});

describe("atomicWriteFile", () => {
  test.each([
    ["umask 022", 0o022],
    ["umask 000", 0o000],
    ["umask 277 (would strip owner write/exec)", 0o277],
  ])("new file 0600 and new dirs 0700 under %s", (_name, umask) => {
    const target = path.join(freshDir(), "state", "agents", "auth-profiles.json");
    const prev = process.umask(umask);
    try {
      atomicWriteFile(target, "{}\n");
    } finally {
      process.umask(prev);
    }
    expect(fs.readFileSync(target, "utf8")).toBe("{}\n");
    expect(mode(target)).toBe(0o600);
    expect(mode(path.dirname(target))).toBe(0o700);
    expect(mode(path.dirname(path.dirname(target)))).toBe(0o700);
  });

  test("existing parent dir keeps its mode", () => {
    const dir = freshDir();
    fs.chmodSync(dir, 0o755);
    atomicWriteFile(path.join(dir, "jarvis.json"), "{}\n");
    expect(mode(dir)).toBe(0o755);
  });

  test.each([
    [0o644, 0o600],
    [0o666, 0o600],
    [0o640, 0o600],
    [0o700, 0o600],
    [0o600, 0o600],
    [0o400, 0o400],
    [0o200, 0o200],
  ])("previous mode %o → %o (never loosened)", (before, after) => {
    const target = path.join(freshDir(), "auth-profiles.json");
    fs.writeFileSync(target, "old\n");
    fs.chmodSync(target, before);
    atomicWriteFile(target, "new\n");
    expect(mode(target)).toBe(after);
    expect(fs.readFileSync(target, "utf8")).toBe("new\n");
  });

  test("no temp file is left after a successful write", () => {
    const dir = freshDir();
    const target = path.join(dir, "sessions.json");
    atomicWriteFile(target, "1\n");
    atomicWriteFile(target, "2\n");
    expect(fs.readdirSync(dir)).toEqual(["sessions.json"]);
  });

  test("a failing write removes its temp file and leaves the target as it was", () => {
    const dir = freshDir();
    // rename(2) cannot replace a non-empty directory, so the last step fails after the temp was written.
    const target = path.join(dir, "auth-profiles.json");
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, "keep"), "x");
    expect(() => atomicWriteFile(target, "{}\n")).toThrow();
    expect(fs.readdirSync(dir)).toEqual(["auth-profiles.json"]);
    expect(fs.readdirSync(target)).toEqual(["keep"]);
  });

  test("temp file is named <target>.<pid>.<8 hex>.tmp", () => {
    const dir = freshDir();
    const target = path.join(dir, "auth-profiles.json");
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, "keep"), "x");
    const origRename = fs.renameSync;
    let tmpName = "";
    fs.renameSync = ((from: fs.PathLike, to: fs.PathLike) => {
      tmpName = String(from);
      return origRename(from, to);
    }) as typeof fs.renameSync;
    try {
      expect(() => atomicWriteFile(target, "{}\n")).toThrow();
    } finally {
      fs.renameSync = origRename;
    }
    expect(path.basename(tmpName)).toMatch(new RegExp(`^auth-profiles\\.json\\.${process.pid}\\.[0-9a-f]{8}\\.tmp$`));
  });
});

describe("updateJsonFile", () => {
  test("missing file: read gets null, the document is created 0600", async () => {
    const target = path.join(freshDir(), "auth-profiles.json");
    let seen: string | null | undefined;
    const out = await updateJsonFile(target, {
      label: "auth store",
      timing: FAST,
      read: (text) => {
        seen = text;
        return readJson(text);
      },
      mutate: (doc) => ({ doc: { ...doc, version: 1 }, result: "created" }),
    });
    expect(seen).toBeNull();
    expect(out).toEqual({ result: "created", wrote: true });
    expect(fs.readFileSync(target, "utf8")).toBe(serializeJson({ version: 1 }));
    expect(mode(target)).toBe(0o600);
    expect(fs.existsSync(`${target}.lock`)).toBe(false);
  });

  test("existing key order is kept and new keys are appended", async () => {
    const target = path.join(freshDir(), "auth-profiles.json");
    fs.writeFileSync(target, '{"b":1,"a":2,"extra":{"x":[1]}}');
    await updateJsonFile(target, {
      label: "auth store",
      timing: FAST,
      read: readJson,
      mutate: (doc) => {
        doc.a = 3;
        doc.c = 4;
        return { doc, result: null };
      },
    });
    expect(fs.readFileSync(target, "utf8")).toBe(serializeJson({ b: 1, a: 3, extra: { x: [1] }, c: 4 }));
  });

  type NoWriteCase = [name: string, original: string, mutate: (doc: Doc) => unknown];
  const noWrite: NoWriteCase[] = [
    ["identical document", serializeJson({ version: 1, profiles: {} }), (doc) => doc],
    ["deep-equal copy, other formatting", '{"version":1,"profiles":{}}', (doc) => structuredClone(doc)],
    ["in-place set to the same value", serializeJson({ version: 1 }), (doc) => Object.assign(doc, { version: 1 })],
    ["only an undefined member added", serializeJson({ version: 1 }), (doc) => ({ ...doc, gone: undefined })],
    ["key order differs only", '{"profiles":{},"version":1}', () => ({ version: 1, profiles: {} })],
    ["mutation reports nothing to do", serializeJson({ version: 1 }), () => undefined],
  ];
  test.each(noWrite)("deep-equal → no write: %s", async (_name, original, change) => {
    const target = path.join(freshDir(), "auth-profiles.json");
    fs.writeFileSync(target, original);
    fs.chmodSync(target, 0o644);
    const mtime = backdate(target);
    const out = await updateJsonFile(target, {
      label: "auth store",
      timing: FAST,
      read: readJson,
      mutate: (doc) => ({ doc: change(doc), result: 7 }),
    });
    expect(out).toEqual({ result: 7, wrote: false });
    expect(fs.readFileSync(target, "utf8")).toBe(original);
    expect(fs.statSync(target).mtimeMs).toBe(mtime);
    expect(mode(target)).toBe(0o644);
  });

  test("in-place mutation that changes a value is detected and written", async () => {
    const target = path.join(freshDir(), "auth-profiles.json");
    fs.writeFileSync(target, serializeJson({ order: { anthropic: ["a"] } }));
    const out = await updateJsonFile(target, {
      label: "auth store",
      timing: FAST,
      read: readJson,
      mutate: (doc) => {
        delete doc.order;
        return { doc, result: null };
      },
    });
    expect(out.wrote).toBe(true);
    expect(fs.readFileSync(target, "utf8")).toBe("{}\n");
  });

  test("read throwing a JarvisError aborts: file unchanged, lock released", async () => {
    const dir = freshDir();
    const target = path.join(dir, "auth-profiles.json");
    fs.writeFileSync(target, "{not json");
    const err = new JarvisError("store_invalid", `${target} is not valid JSON`);
    let mutated = false;
    await expect(
      updateJsonFile(target, {
        label: "auth store",
        timing: FAST,
        read: () => {
          throw err;
        },
        mutate: () => {
          mutated = true;
          return { doc: {}, result: null };
        },
      }),
    ).rejects.toBe(err);
    expect(mutated).toBe(false);
    expect(fs.readFileSync(target, "utf8")).toBe("{not json");
    expect(fs.readdirSync(dir)).toEqual(["auth-profiles.json"]);
  });

  test("parseBaseline lets a JSON5 file count as unchanged", async () => {
    const target = path.join(freshDir(), "jarvis.json");
    const json5 = "// comment\n{ version: 1 }\n";
    fs.writeFileSync(target, json5);
    const parse = (text: string): Doc => (text.includes("version: 1") ? { version: 1 } : {});
    const out = await updateJsonFile(target, {
      label: "jarvis.json",
      timing: FAST,
      read: (text) => parse(text ?? ""),
      mutate: (doc) => ({ doc, result: null }),
      parseBaseline: parse,
    });
    expect(out.wrote).toBe(false);
    expect(fs.readFileSync(target, "utf8")).toBe(json5);
  });

  test("20 processes adding one key each under the lock: no update is lost", async () => {
    const dir = freshDir();
    const target = path.join(dir, "auth-profiles.json");
    const script = path.join(dir, "add-key.ts");
    fs.writeFileSync(
      script,
      `import { updateJsonFile } from ${JSON.stringify(ATOMIC_TS)};
const [file, key] = [process.argv[2]!, process.argv[3]!];
await updateJsonFile(file, {
  label: "auth store",
  timing: { staleMs: 30_000, waitMs: 15_000 },
  read: (text) => (text === null ? { profiles: {} } : JSON.parse(text)),
  mutate: (doc) => {
    doc.profiles[key] = { type: "api_key", provider: "test", key: "k-" + key };
    return { doc, result: null };
  },
});
`,
    );
    const keys = Array.from({ length: 20 }, (_, i) => `test:p${i}`);
    const children = keys.map((key) =>
      Bun.spawn([process.execPath, script, target, key], { stdout: "ignore", stderr: "pipe" }),
    );
    const codes = await Promise.all(children.map((c) => c.exited));
    const errors = await Promise.all(children.map((c) => new Response(c.stderr).text()));
    expect(errors.filter((e) => e.length > 0)).toEqual([]);
    expect(codes).toEqual(keys.map(() => 0));

    const doc = JSON.parse(fs.readFileSync(target, "utf8")) as { profiles: Doc };
    expect(Object.keys(doc.profiles).sort()).toEqual([...keys].sort());
    expect(mode(target)).toBe(0o600);
    expect(fs.readdirSync(dir).sort()).toEqual(["add-key.ts", "auth-profiles.json"]);
  }, 20_000);
});

describe("removeDeadTempFiles", () => {
  test("removes temp files of dead writers only, next to the target", async () => {
    const dir = freshDir();
    const target = path.join(dir, "auth-profiles.json");
    // A pid that is certainly dead: a child that has already exited.
    const child = Bun.spawn(["/bin/true"]);
    await child.exited;
    const dead = path.join(dir, `auth-profiles.json.${child.pid}.0123abcd.tmp`);
    const mine = path.join(dir, `auth-profiles.json.${process.pid}.89abcdef.tmp`);
    const other = path.join(dir, `other.json.${child.pid}.0123abcd.tmp`);
    const odd = path.join(dir, `auth-profiles.json.notapid.tmp`);
    for (const f of [dead, mine, other, odd]) fs.writeFileSync(f, "{");
    removeDeadTempFiles(target);
    expect(fs.existsSync(dead)).toBe(false);
    expect([mine, other, odd].map((f) => fs.existsSync(f))).toEqual([true, true, true]);
  });

  test("updateJsonFile cleans up a dead writer's temp file while it holds the lock", async () => {
    const dir = freshDir();
    const target = path.join(dir, "store.json");
    const child = Bun.spawn(["/bin/true"]);
    await child.exited;
    const leftover = path.join(dir, `store.json.${child.pid}.deadbeef.tmp`);
    fs.writeFileSync(leftover, '{"half":');
    await updateJsonFile(target, { label: "test", timing: FAST, read: readJson, mutate: (d) => ({ doc: { ...d, a: 1 }, result: undefined }) });
    expect(fs.existsSync(leftover)).toBe(false);
    expect(JSON.parse(fs.readFileSync(target, "utf8"))).toEqual({ a: 1 });
  });
});
