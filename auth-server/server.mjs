// A minimal real Better Auth server for `make demo`, tests/interop and tests/e2e: email +
// password, the jwt plugin (EdDSA JWKS by default), the bearer plugin, and the in-memory
// adapter (users are gone when it stops). Configured by the environment only:
//   PORT                  port to listen on (default 3001)
//   HOST                  address to listen on (default 127.0.0.1)
//   BETTER_AUTH_URL       its public base URL; the jwt plugin's default iss and aud
//   BETTER_AUTH_SECRET    encrypts the jwt plugin's private keys
//   TRUSTED_ORIGINS       comma-separated origins allowed to sign up / sign in
//   JWT_ALG               unset: the jwt plugin's defaults (EdDSA); else e.g. ES256 or RS256
//   JWT_EXPIRES_IN        unset: the jwt plugin's default (15m); else e.g. 5s (tests of refresh)
// Prints one line "ready <url>" on stdout once it listens.
import { createServer } from "node:http";

import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt } from "better-auth/plugins";

const port = Number(process.env.PORT ?? "3001");
const host = process.env.HOST ?? "127.0.0.1";
const baseURL = process.env.BETTER_AUTH_URL ?? `http://127.0.0.1:${port}`;
const alg = process.env.JWT_ALG;
const expirationTime = process.env.JWT_EXPIRES_IN;

// The jwt plugin with DEFAULT options unless a key algorithm or a lifetime is asked for.
const jwtOptions = {
  ...(alg ? { jwks: { keyPairConfig: { alg } } } : {}),
  ...(expirationTime ? { jwt: { expirationTime } } : {}),
};

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
server.listen(port, host, () => {
  console.log(`ready ${baseURL}`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
