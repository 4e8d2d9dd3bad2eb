/**
 * Build the jarvis executable (spec 10 §3). `bun scripts/build.ts` → dist/jarvis for the host;
 * `bun scripts/build.ts --release` → every release target in dist/release/ plus SHA256SUMS.
 *
 * Release options: `--targets bun-linux-arm64,bun-linux-arm64-android` builds only those targets (SHA256SUMS then
 * lists only them); `--outdir <dir>` writes there instead of dist/release (scripts/check-cross.sh uses both).
 * Source maps are build artefacts, not release assets: they are moved to dist/sourcemaps/.
 *
 * Cross-compiling downloads each target's Bun runtime from the npm registry into Bun's install cache
 * (`$BUN_INSTALL_CACHE_DIR`, default ~/.bun/install/cache). A failed download, or an executable whose format or CPU
 * does not match its target, stops the release with exit 1 and a message naming the target.
 */
import { $ } from "bun";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import pkg from "../package.json" with { type: "json" };

const root = path.resolve(import.meta.dir, "..");

const RELEASE_TARGETS: Array<[target: string, file: string]> = [
  ["bun-linux-x64", "jarvis-linux-x64"],
  ["bun-linux-x64-baseline", "jarvis-linux-x64-baseline"],
  ["bun-linux-arm64", "jarvis-linux-arm64"],
  ["bun-linux-x64-musl", "jarvis-linux-x64-musl"],
  ["bun-linux-arm64-musl", "jarvis-linux-arm64-musl"],
  ["bun-linux-arm64-android", "jarvis-android-arm64"],
  ["bun-darwin-x64", "jarvis-darwin-x64"],
  ["bun-darwin-arm64", "jarvis-darwin-arm64"],
  ["bun-windows-x64", "jarvis-windows-x64.exe"],
];

class BuildError extends Error {}

function hostTarget(): string {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  const os = process.platform === "darwin" ? "darwin" : process.platform === "win32" ? "windows" : "linux";
  return `bun-${os}-${arch}`;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function build(target: string, outfile: string, crossCompile: boolean): Promise<void> {
  const flags = [
    "build", "./main.ts", "--compile", "--minify", "--bytecode", "--format=esm", "--sourcemap",
    "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
    "--define", `JARVIS_VERSION=${JSON.stringify(pkg.version)}`,
    "--define", `JARVIS_TARGET=${JSON.stringify(target)}`,
    "--outfile", outfile,
  ];
  if (crossCompile) flags.splice(3, 0, `--target=${target}`);
  if (crossCompile) fs.rmSync(outfile, { force: true });
  const res = await $`${process.execPath} ${flags}`.cwd(root).nothrow().quiet();
  const output = res.stderr.toString() + res.stdout.toString();
  if (res.exitCode !== 0) {
    process.stderr.write(output);
    if (/failed to download/i.test(output)) {
      const cache = process.env.BUN_INSTALL_CACHE_DIR || "~/.bun/install/cache";
      throw new BuildError(
        `could not download the Bun runtime for ${target}: cross-compiling fetches it from the npm registry ` +
          `(registry.npmjs.org) into the Bun install cache (${cache}). Check network/proxy access, or pre-fill the cache.`,
      );
    }
    throw new BuildError(`build for ${target} failed (exit ${res.exitCode})`);
  }
  if (!fs.existsSync(outfile)) throw new BuildError(`build for ${target} reported success but ${outfile} is missing`);
  if (crossCompile) checkExecutable(outfile, target);
}

/**
 * Reads the executable header and fails unless its format and CPU match the target (ELF x86-64/AArch64, Mach-O
 * x86_64/arm64, PE), so a wrong or truncated runtime never ships under a target's name.
 */
function checkExecutable(file: string, target: string): void {
  const fd = fs.openSync(file, "r");
  const head = Buffer.alloc(64);
  fs.readSync(fd, head, 0, 64, 0);
  fs.closeSync(fd);
  const arm = target.includes("arm64");
  let found: string;
  if (head.readUInt32BE(0) === 0x7f454c46) {
    const machine = head.readUInt16LE(18);
    found = machine === 0x3e ? "elf-x64" : machine === 0xb7 ? "elf-arm64" : `elf-machine-${machine}`;
  } else if (head.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = head.readUInt32LE(4);
    found = cpu === 0x01000007 ? "macho-x64" : cpu === 0x0100000c ? "macho-arm64" : `macho-cpu-${cpu}`;
  } else if (head.toString("latin1", 0, 2) === "MZ") {
    found = "pe-x64";
  } else {
    found = "unknown";
  }
  const os = target.includes("windows") ? "pe" : target.includes("darwin") ? "macho" : "elf";
  const expected = `${os}-${arm ? "arm64" : "x64"}`;
  if (found !== expected) throw new BuildError(`${path.basename(file)} for ${target} is ${found}, expected ${expected}`);
}

function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function moveSourceMap(out: string): void {
  const map = `${out}.map`;
  if (!fs.existsSync(map)) return;
  const dir = path.join(root, "dist", "sourcemaps");
  fs.mkdirSync(dir, { recursive: true });
  fs.renameSync(map, path.join(dir, path.basename(map)));
}

async function release(): Promise<void> {
  const only = argValue("--targets")?.split(",").map((t) => t.trim()).filter(Boolean);
  const unknown = only?.filter((t) => !RELEASE_TARGETS.some(([target]) => target === t)) ?? [];
  if (unknown.length) throw new BuildError(`unknown release target(s): ${unknown.join(", ")}`);
  const targets = only ? RELEASE_TARGETS.filter(([t]) => only.includes(t)) : RELEASE_TARGETS;
  const dir = path.resolve(argValue("--outdir") ?? path.join(root, "dist", "release"));
  // Start empty so that no stale asset from an earlier release can ship.
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const sums: Array<[file: string, hex: string]> = [];
  for (const [target, file] of targets) {
    const out = path.join(dir, file);
    await build(target, out, true);
    moveSourceMap(out);
    sums.push([file, sha256(out)]);
    console.log(`built ${file}`);
  }
  sums.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  fs.writeFileSync(path.join(dir, "SHA256SUMS"), sums.map(([file, hex]) => `${hex}  ${file}\n`).join(""));
  const sumsFile = path.join(dir, "SHA256SUMS");
  console.log(`wrote ${sumsFile.startsWith(root + path.sep) ? path.relative(root, sumsFile) : sumsFile}`);
}

try {
  if (process.argv.includes("--release")) await release();
  else {
    await build(hostTarget(), path.join(root, "dist", "jarvis"), false);
    console.log("built dist/jarvis");
  }
} catch (e) {
  if (!(e instanceof BuildError)) throw e;
  process.stderr.write(`error: ${e.message}\n`);
  process.exit(1);
}
