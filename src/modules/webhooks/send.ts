import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { type AddressPolicy, addressAllowed } from "./address.ts";

/** Bytes of a receiver's answer kept in the delivery log. */
export const responseBodyLogMaxBytes = 1024;

export interface SendResult {
  status: number | null;
  /** The start of the answer's body, for the delivery log. */
  body: string | null;
  /** Why no status came back, or why a status is not a delivery: timeout, refused, … */
  error: string | null;
  durationMs: number;
}

/**
 * A DNS lookup that refuses disallowed addresses: the check runs on the very address the socket
 * connects to, so a name cannot pass at save time and point inside the network later.
 */
function guardedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, found) => {
      if (error) return callback(error, "", 0);
      const addresses = found as unknown as LookupAddress[];
      const blocked = addresses.find((entry) => !addressAllowed(policy, hostname, entry.address));
      if (blocked) {
        const refusal = Object.assign(new Error(`address ${blocked.address} is not allowed`), {
          code: "EADDRREFUSED_BY_POLICY",
        });
        return callback(refusal, "", 0);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new Error(`${hostname} has no address`), "", 0);
      return callback(null, first.address, first.family);
    });
  };
}

/**
 * POSTs one signed webhook. Redirects are not followed (a 3xx is a failed attempt), the whole
 * exchange is bounded by `timeoutMs`, and at most a little of the answer is read.
 */
export function send(
  policy: AddressPolicy,
  input: { url: string; headers: Record<string, string>; body: string; timeoutMs: number },
): Promise<SendResult> {
  const started = performance.now();
  const url = new URL(input.url);
  const finish = (result: Omit<SendResult, "durationMs">): SendResult => ({
    ...result,
    durationMs: Math.round(performance.now() - started),
  });
  const literal = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  // A literal IP address never goes through the lookup, so it is checked here.
  if (isIP(literal) && !addressAllowed(policy, url.hostname, literal)) {
    return Promise.resolve(
      finish({ status: null, body: null, error: `address ${literal} is not allowed` }),
    );
  }
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: Omit<SendResult, "durationMs">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(finish(result));
    };
    const request = client.request(
      url,
      {
        method: "POST",
        headers: {
          ...input.headers,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(input.body),
          "user-agent": "Setia-Webhooks/1",
        },
        lookup: guardedLookup(policy),
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          if (size < responseBodyLogMaxBytes) chunks.push(chunk);
          size += chunk.length;
          // The rest of a large answer is of no use: stop reading it.
          if (size >= responseBodyLogMaxBytes) response.destroy();
        });
        const end = () => {
          const status = response.statusCode ?? null;
          const body = Buffer.concat(chunks).subarray(0, responseBodyLogMaxBytes).toString("utf8");
          const redirect = status !== null && status >= 300 && status < 400;
          done({ status, body, error: redirect ? "redirect not followed" : null });
        };
        response.on("end", end);
        response.on("close", end);
        response.on("error", end);
      },
    );
    const timer = setTimeout(() => {
      done({ status: null, body: null, error: `timeout after ${input.timeoutMs} ms` });
      request.destroy();
    }, input.timeoutMs);
    request.on("error", (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === "EADDRREFUSED_BY_POLICY" ? error.message : (error.code ?? error.message);
      done({ status: null, body: null, error: reason });
    });
    request.end(input.body);
  });
}
