/**
 * JWT payload decoding for display and routing (email, account id, `exp`): never a signature check (spec 08 §3).
 */

/** Decode a JWT payload without verifying it (display/routing only, 08 §3). */
export function decodeJwt(token: string | undefined): Record<string, unknown> | undefined {
  if (!token) return undefined;
  const parts = token.split(".");
  if (parts.length < 2) return undefined;
  try {
    const json = Buffer.from(parts[1]!.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8");
    const v = JSON.parse(json);
    return v && typeof v === "object" ? v : undefined;
  } catch {
    return undefined;
  }
}
