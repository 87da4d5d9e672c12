import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { canonical, signature, signedHeaders } from "../src/signing.js";

test("the canonical string has its seven lines, the body by its SHA-256", () => {
  const text = canonical("get", "/api/v1/gateway/cup/bot", "", "1767225600", "n".repeat(16));
  const lines = text.split("\n");
  assert.equal(lines.length, 7);
  assert.deepEqual(lines.slice(0, 5), ["ARENA-HMAC-SHA256", "GET", "/api/v1/gateway/cup/bot", "", "1767225600"]);
  assert.equal(lines[6], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");  // SHA-256 of ""
});

test("a signature covers every part of the request", () => {
  const base = ["rs_secret", "POST", "/p", "a=1", "1767225600", "abcdefghijklmnop", "{}"] as const;
  const expected = createHmac("sha256", "rs_secret").update(canonical(...base.slice(1) as [string, string, string,
    string, string, string])).digest("hex");
  assert.equal(signature(...base), expected);
  for (let i = 0; i < base.length; i++) {
    const changed = [...base] as string[];
    changed[i] += "x";
    assert.notEqual(signature(...(changed as [string, string, string, string, string, string, string])), expected);
  }
});

test("signed headers: a fresh nonce each time, the timestamp in seconds", () => {
  const one = signedHeaders("rk_1", "rs_s", "GET", "/p", "", "", 1767225600_123);
  const two = signedHeaders("rk_1", "rs_s", "GET", "/p", "", "", 1767225600_123);
  assert.equal(one["X-Arena-Timestamp"], "1767225600");
  assert.match(one["X-Arena-Nonce"], /^[A-Za-z0-9_-]{16,64}$/);
  assert.notEqual(one["X-Arena-Nonce"], two["X-Arena-Nonce"]);
  assert.equal(one["X-Arena-Signature"], signature("rs_s", "GET", "/p", "", "1767225600", one["X-Arena-Nonce"]));
});
