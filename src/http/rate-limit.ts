import type { Ctx } from "../context.ts";
import { DomainError } from "../lib/errors.ts";
import type { App } from "./kit.ts";

/** Buckets kept per process before the idle ones are dropped: bounds the memory an attack can take. */
const bucketsMax = 100_000;

/**
 * Token buckets: each holds up to `perMinute` requests and refills continuously at that rate, so
 * a client may burst to the limit and then goes on at the steady rate.
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();
  constructor(readonly perMinute: number) {}

  #refilled(key: string, nowMs: number): { tokens: number; atMs: number } {
    const bucket = this.#buckets.get(key);
    if (!bucket) return { tokens: this.perMinute, atMs: nowMs };
    const refill = ((nowMs - bucket.atMs) * this.perMinute) / 60_000;
    return { tokens: Math.min(this.perMinute, bucket.tokens + Math.max(0, refill)), atMs: nowMs };
  }

  /** Seconds to wait before one more request would pass, or 0 when it passes now. */
  waitSeconds(key: string, nowMs: number): number {
    const { tokens } = this.#refilled(key, nowMs);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 60) / this.perMinute);
  }

  /** Takes one request from the bucket; answers the wait in seconds when it was empty. */
  take(key: string, nowMs: number): number {
    const wait = this.waitSeconds(key, nowMs);
    const bucket = this.#refilled(key, nowMs);
    if (wait === 0) bucket.tokens -= 1;
    if (this.#buckets.size >= bucketsMax && !this.#buckets.has(key)) this.#buckets.clear();
    this.#buckets.set(key, bucket);
    return wait;
  }
}

/** Routes never limited: load balancers and monitors poll them. */
const unlimitedPaths = new Set(["/health"]);

/**
 * Rate limits per API key (authenticated requests) and per client address (requests without a
 * key, and failed authentications, so guessing keys is slowed too). Register before the auth
 * hook. Limits are per process: N processes behind a balancer allow up to N times as much.
 */
export function registerRateLimits(app: App, ctx: Ctx): void {
  const limits = ctx.rateLimits;
  const byKey = limits && limits.keyPerMinute > 0 ? new TokenBuckets(limits.keyPerMinute) : null;
  const byIp = limits && limits.ipPerMinute > 0 ? new TokenBuckets(limits.ipPerMinute) : null;
  if (!byKey && !byIp) return;
  const refuse = (reply: { header(name: string, value: string): unknown }, seconds: number) => {
    reply.header("retry-after", String(seconds));
    return new DomainError("rate_limited", `too many requests; retry in ${seconds} s`, {
      retryAfterSeconds: seconds,
    });
  };
  const nowMs = () => ctx.clock.now().getTime();

  app.addHook("onRequest", async (request, reply) => {
    if (!byIp || unlimitedPaths.has(request.url.split("?")[0] ?? "")) return;
    // The auth hook sets this too, but a refusal here comes before it.
    reply.header("x-request-id", request.id);
    // A request with a key is counted against the key once authenticated; its address only has
    // to have budget left (failed authentications spend it).
    const wait = request.headers.authorization
      ? byIp.waitSeconds(request.ip, nowMs())
      : byIp.take(request.ip, nowMs());
    if (wait > 0) throw refuse(reply, wait);
  });

  app.addHook("preParsing", async (request, reply) => {
    const principal = request.principal;
    if (!byKey || !principal) return;
    const wait = byKey.take(principal.keyId, nowMs());
    if (wait > 0) throw refuse(reply, wait);
  });

  app.addHook("onResponse", async (request, reply) => {
    if (byIp && reply.statusCode === 401) byIp.take(request.ip, nowMs());
  });
}
