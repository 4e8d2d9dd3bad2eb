// The README's quick start must work as written: the fenced block after `<!-- quickstart -->` is run line by line
// against the compiled binary (`jarvis` on PATH → dist/jarvis) in an empty HOME, like a user on a fresh machine.
// A line's trailing `# exit N` is its documented exit code (other lines must exit 0); `prints "<text>"` after it is
// text stdout must contain. `<your-…-key>` placeholders are replaced by fixture keys.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { cleanupSandboxes, expectNoSecrets, fake, JARVIS, ROOT, sandbox } from "./helpers.ts";
import { cleanupScratch, scratch } from "./monitor-helpers.ts";

afterAll(() => {
  cleanupSandboxes();
  cleanupScratch();
});

const PLACEHOLDERS: Record<string, string> = {
  "<your-anthropic-api-key>": fake.anthropicKey,
};

interface Step {
  line: string;
  command: string;
  exit: number;
  prints?: string;
}

/** The commands of the quick-start block with their documented exit codes. */
function quickStartSteps(readme: string): Step[] {
  const m = readme.match(/<!-- quickstart -->\s*\n```sh\n([\s\S]*?)\n```/);
  if (!m) throw new Error("README.md has no ```sh block right after <!-- quickstart -->");
  return m[1]!
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.trimStart().startsWith("#"))
    .map((line) => {
      const note = line.match(/\s#\s*exit (\d+)(.*)$/);
      const command = note ? line.slice(0, note.index).trimEnd() : line.trim();
      const prints = note?.[2]?.match(/prints "([^"]*)"/)?.[1];
      return { line, command, exit: note ? Number(note[1]) : 0, ...(prints !== undefined ? { prints } : {}) };
    });
}

const steps = quickStartSteps(fs.readFileSync(path.join(ROOT, "README.md"), "utf8"));

describe("README quick start", () => {
  test("the block is there and documents jarvis commands with exit codes", () => {
    expect(steps.length).toBeGreaterThanOrEqual(5);
    expect(steps.filter((s) => s.command.startsWith("jarvis ")).length).toBeGreaterThanOrEqual(5);
    expect(steps.some((s) => s.exit !== 0)).toBe(true);
  });

  test("every line exits as documented, in order, in a fresh HOME", async () => {
    const sb = sandbox();
    const bin = scratch();
    fs.symlinkSync(JARVIS, path.join(bin, "jarvis"));
    const env = { HOME: sb.home, PATH: `${bin}:/usr/bin:/bin` };
    for (const step of steps) {
      let command = step.command;
      for (const [k, v] of Object.entries(PLACEHOLDERS)) command = command.split(k).join(v);
      const p = Bun.spawn(["/bin/sh", "-c", command], { env, cwd: sb.home, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      const shown = { line: step.line, code, stdout: stdout.slice(0, 2000), stderr: stderr.slice(0, 2000) };
      expect(shown).toEqual({ ...shown, code: step.exit });
      if (step.prints !== undefined) expect(stdout).toContain(step.prints);
      expectNoSecrets({ code, stdout, stderr }, Object.values(PLACEHOLDERS));
    }
  });
});
