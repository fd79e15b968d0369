// Serves the built frontend on its own origin, with /config.json naming the gateway URL.
//   PORT          port to listen on (default 3000)
//   HOST          address to listen on (default 127.0.0.1)
//   GATEWAY_URL   the one URL the page calls (default http://localhost:8080)
// Prints one line "ready <url>" on stdout once it listens.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";

const port = Number(process.env.PORT ?? "3000");
const host = process.env.HOST ?? "127.0.0.1";
const gatewayUrl = (process.env.GATEWAY_URL ?? "http://localhost:8080").replace(/\/$/, "");

const here = new URL(".", import.meta.url);
const files = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["dist/app.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
  "/favicon.svg": ["favicon.svg", "image/svg+xml"],
};
const config = JSON.stringify({ gatewayUrl });
// The page may talk to itself and to the gateway, nothing else.
const policy = `default-src 'self'; connect-src 'self' ${gatewayUrl}; frame-ancestors 'none'`;

async function answer(request, response) {
  const path = new URL(request.url, "http://frontend").pathname;
  const headers = { "Content-Security-Policy": policy, "Cache-Control": "no-store" };
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { ...headers, Allow: "GET, HEAD" }).end();
  } else if (path === "/config.json") {
    response.writeHead(200, { ...headers, "Content-Type": "application/json" }).end(config);
  } else if (path in files) {
    const [file, type] = files[path];
    const body = await readFile(new URL(file, here));
    response.writeHead(200, { ...headers, "Content-Type": type }).end(body);
  } else {
    response.writeHead(404, { ...headers, "Content-Type": "text/plain" }).end("not found\n");
  }
}

const server = createServer((request, response) => {
  answer(request, response).catch(() => {
    response.writeHead(500, { "Content-Type": "text/plain" }).end("frontend not built\n");
  });
});
server.listen(port, host, () => {
  console.log(`ready http://${host === "127.0.0.1" ? "localhost" : host}:${port}`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
