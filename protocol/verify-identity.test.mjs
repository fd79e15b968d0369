// `node --test protocol/`: the Node.js verifier against the shared vectors, and on a real
// request with a repeated identity header.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { connect } from "node:net";
import { test } from "node:test";

import { verifyIdentity } from "./verify-identity.mjs";

const vectors = JSON.parse(readFileSync(new URL("./identity-vectors.json", import.meta.url)));
const { secrets, max_age_seconds: maxAge } = vectors;

// A request as Node's http server presents it: lower-case names, repeats kept apart.
function request(method, url, pairs) {
  const headersDistinct = {};
  for (const [name, value] of pairs) (headersDistinct[name.toLowerCase()] ??= []).push(value);
  const headers = Object.fromEntries(
    Object.entries(headersDistinct).map(([name, values]) => [name, values.join(", ")]),
  );
  return { method, url, headers, headersDistinct };
}

for (const v of vectors.valid) {
  test(`valid: ${v.name}`, () => {
    const req = request(v.method, v.path_qs, Object.entries(v.headers));
    assert.equal(verifyIdentity(req, secrets, maxAge, v.timestamp), v.user_id);
  });
}

for (const v of vectors.invalid) {
  test(`refused: ${v.name}`, () => {
    const req = request(v.method, v.path_qs, v.headers);
    assert.equal(verifyIdentity(req, secrets, maxAge, v.now), null);
  });
}

test("a real request with X-User-Id twice is refused", async () => {
  const [valid] = vectors.valid;
  const seen = [];
  const server = createServer((req, res) => {
    seen.push(verifyIdentity(req, secrets, maxAge, valid.timestamp));
    res.end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const lines = Object.entries(valid.headers).map(([name, value]) => `${name}: ${value}`);
  const send = (extra) =>
    new Promise((resolve, reject) => {
      const socket = connect(server.address().port, "127.0.0.1");
      const head = [`GET ${valid.path_qs} HTTP/1.1`, "Host: backend", ...lines, ...extra];
      socket.on("error", reject).on("close", resolve);
      socket.end(head.join("\r\n") + "\r\nConnection: close\r\n\r\n");
      socket.resume();
    });
  await send([]);
  await send(["X-User-Id: bob"]);
  server.close();
  assert.deepEqual(seen, [valid.user_id, null]);
});
