// Container health probe: exits 0 when this server's JWKS answers 2xx on 127.0.0.1:$PORT.
// The port comes from the environment, like server.mjs, so it is never hard-coded twice.
const port = process.env.PORT ?? "3001";
try {
  const answer = await fetch(`http://127.0.0.1:${port}/api/auth/jwks`, {
    signal: AbortSignal.timeout(2000),
  });
  process.exit(answer.ok ? 0 : 1);
} catch {
  process.exit(1);
}
