// Cross builds (spec 10 §3, §4): scripts/check-cross.sh builds the linux-arm64 (glibc) and android-arm64 executables,
// runs the arm64 one under qemu user emulation and reads the Android one's ELF header. It downloads Bun runtimes on
// first use, so it only runs when asked: TEST_JARVIS_CROSS=1 bun test --no-env-file tests/cross.test.ts
// (not JARVIS_CROSS_TESTS: tests/setup.ts strips every JARVIS_* variable before the tests start).
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import pkg from "../package.json" with { type: "json" };

const ROOT = path.resolve(import.meta.dir, "..");
const SCRIPT = path.join(ROOT, "scripts", "check-cross.sh");
const enabled = process.env.TEST_JARVIS_CROSS === "1";
const which = (name: string) => Bun.which(name) !== null;
const toolsMissing = [
  which("qemu-aarch64-static") || which("qemu-aarch64") ? null : "qemu-user-static",
  fs.existsSync(path.join(process.env.JARVIS_AARCH64_SYSROOT ?? "/usr/aarch64-linux-gnu", "lib", "ld-linux-aarch64.so.1")) ? null : "libc6-arm64-cross",
  which("readelf") ? null : "binutils",
].filter(Boolean);

const skipReason = !enabled
  ? "cross-build tests skipped: set TEST_JARVIS_CROSS=1 to build arm64 + android and run them under qemu"
  : toolsMissing.length
    ? `cross-build tests skipped: missing tools; apt-get install -y ${toolsMissing.join(" ")}`
    : undefined;
if (skipReason) console.warn(skipReason);

describe("cross builds", () => {
  test.skipIf(skipReason !== undefined)(
    "arm64 runs under qemu; android asks for /system/bin/linker64",
    async () => {
      const p = Bun.spawn([SCRIPT], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      if (code !== 0) throw new Error(`check-cross.sh exited ${code}\n${stdout}\n${stderr}`);
      expect(stdout).toMatch(new RegExp(`^arm64 --version under qemu-aarch64(-static)?: jarvis ${pkg.version.replace(/\./g, "\\.")} \\(bun ${Bun.version.replace(/\./g, "\\.")}, bun-linux-arm64\\)$`, "m"));
      expect(stdout).toContain("arm64 models status --json under");
      expect(stdout).toContain("android-arm64 readelf -l: [Requesting program interpreter: /system/bin/linker64]\n");
      expect(stdout).toContain("android-arm64 readelf -h: AArch64, DYN (PIE)\n");
    },
    600_000,
  );
});
