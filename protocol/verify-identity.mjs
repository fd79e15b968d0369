// Verify the gateway's signed identity (protocol v1) in a Node.js backend. No dependencies.
// Tested against protocol/identity-vectors.json by verify-identity.test.mjs (`make test`).
import { createHmac, timingSafeEqual } from "node:crypto";

const IDENTITY_HEADERS = ["x-user-id", "x-gateway-timestamp", "x-gateway-signature", "x-request-id"];

// Each identity header's one value; null when one is repeated (parsers disagree on which wins).
// `req.headersDistinct` (Node >= 18.3) keeps repeats apart; `req.headers` joins most with ", ".
function identityFields(req) {
  const fields = {};
  for (const name of IDENTITY_HEADERS) {
    const values = req.headersDistinct ? req.headersDistinct[name] : [req.headers[name]];
    if (values === undefined || values[0] === undefined) continue;
    if (values.length !== 1 || typeof values[0] !== "string") return null;
    fields[name] = values[0];
  }
  return fields;
}

// The verified user id, or null (answer 401). `secrets`: the current one first, then old ones.
// Then check that a {user_id} in the path equals it (else 403) and scope every query by it.
export function verifyIdentity(req, secrets, maxAgeSeconds = 30, now = Date.now() / 1000) {
  const fields = identityFields(req);
  if (fields === null) return null;
  const userId = fields["x-user-id"];
  const timestamp = fields["x-gateway-timestamp"] ?? "";
  const signature = fields["x-gateway-signature"] ?? "";
  const requestId = fields["x-request-id"] ?? "";
  if (!userId || !/^[0-9]{1,12}$/.test(timestamp)) return null;
  if (Math.abs(now - Number(timestamp)) > maxAgeSeconds) return null;
  if (!/^v1=[0-9a-f]{64}$/.test(signature)) return null;
  // req.url is the path with query exactly as sent, which is what the gateway signed.
  const parts = ["v1", timestamp, req.method.toUpperCase(), req.url, userId, requestId];
  if (parts.some((part) => /[\r\n]/.test(part))) return null; // a break would shift the fields
  const canonical = parts.join("\n");
  let ok = false;
  for (const secret of secrets) {
    const expected = "v1=" + createHmac("sha256", secret).update(canonical).digest("hex");
    ok = timingSafeEqual(Buffer.from(signature), Buffer.from(expected)) || ok;
  }
  return ok ? userId : null;
}
