// A real Better Auth server for tests/interop: email + password, the jwt plugin, the bearer
// plugin, and the in-memory adapter. Configured by the environment only:
//   PORT                  port to listen on (127.0.0.1)
//   BETTER_AUTH_URL       its public base URL; the jwt plugin's default iss and aud
//   BETTER_AUTH_SECRET    encrypts the jwt plugin's private keys
//   TRUSTED_ORIGINS       comma-separated origins allowed to sign up / sign in
//   JWT_ALG               unset: the jwt plugin's defaults (EdDSA); else e.g. ES256 or RS256
// Prints one line "ready <url>" on stdout once it listens.
import { createServer } from "node:http";

import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt } from "better-auth/plugins";

const port = Number(process.env.PORT ?? "3001");
const baseURL = process.env.BETTER_AUTH_URL ?? `http://127.0.0.1:${port}`;
const alg = process.env.JWT_ALG;

// The jwt plugin with DEFAULT options unless a key algorithm is asked for explicitly.
const jwtOptions = alg ? { jwks: { keyPairConfig: { alg } } } : undefined;

const auth = betterAuth({
  baseURL,
  secret: process.env.BETTER_AUTH_SECRET,
  trustedOrigins: (process.env.TRUSTED_ORIGINS ?? "").split(",").filter(Boolean),
  database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
  emailAndPassword: { enabled: true },
  plugins: [jwt(jwtOptions), bearer()],
  telemetry: { enabled: false },
  // The tests sign in many times from one loopback address (on under NODE_ENV=production).
  rateLimit: { enabled: false },
});

const server = createServer(toNodeHandler(auth));
server.listen(port, "127.0.0.1", () => {
  console.log(`ready ${baseURL}`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
