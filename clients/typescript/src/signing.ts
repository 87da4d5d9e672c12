// The signed request of a remote bot (docs/remote-bots.md): HMAC-SHA256 under the key's secret of a canonical
// string; the secret never crosses the wire.
import { createHash, createHmac, randomBytes } from "node:crypto";

export const SCHEME = "ARENA-HMAC-SHA256";

export function canonical(method: string, path: string, query: string, timestamp: string, nonce: string,
                          body: string | Uint8Array = ""): string {
  const digest = createHash("sha256").update(body).digest("hex");
  return [SCHEME, method.toUpperCase(), path, query, timestamp, nonce, digest].join("\n");
}

export function signature(secret: string, method: string, path: string, query: string, timestamp: string,
                          nonce: string, body: string | Uint8Array = ""): string {
  return createHmac("sha256", secret).update(canonical(method, path, query, timestamp, nonce, body)).digest("hex");
}

/** The four headers of a signed request: the gateway's handshake (a GET, no body) or a REST call. */
export function signedHeaders(key: string, secret: string, method: string, path: string, query = "",
                              body: string | Uint8Array = "", now: number = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000));
  const nonce = randomBytes(18).toString("base64url");
  return {
    "X-Arena-Key": key,
    "X-Arena-Timestamp": timestamp,
    "X-Arena-Nonce": nonce,
    "X-Arena-Signature": signature(secret, method, path, query, timestamp, nonce, body),
  };
}
