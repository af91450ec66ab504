import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { DomainError } from "../../lib/errors.ts";

/** Where webhooks may go besides the public internet; set by the operator. */
export interface AddressPolicy {
  /** Every address allowed, private ones included (a closed network, a test bench). */
  allowPrivate: boolean;
  /** Hostnames, IP addresses or CIDR ranges allowed even when private. */
  allowedHosts: string[];
}

/** Ranges a webhook must never reach unless allowed: the host itself, its network, cloud metadata. */
const refusedRanges = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], // "this network", 0.0.0.0 (unspecified)
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata at 169.254.169.254
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15], // benchmarking
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved and broadcast
] as const) {
  refusedRanges.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128], // unspecified
  ["::1", 128], // loopback
  ["fe80::", 10], // link-local
  ["fc00::", 7], // unique-local
  ["ff00::", 8], // multicast
  ["64:ff9b::", 96], // NAT64 can wrap any IPv4 address
] as const) {
  refusedRanges.addSubnet(network, prefix, "ipv6");
}

/** An IPv4 address written as IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address. */
function unmapped(address: string): { address: string; family: "ipv4" | "ipv6" } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return { address: mapped[1], family: "ipv4" };
  return { address, family: isIP(address) === 6 ? "ipv6" : "ipv4" };
}

/** True for loopback, private, link-local, unique-local, unspecified and other non-public ranges. */
export function isPrivateAddress(address: string): boolean {
  const plain = unmapped(address);
  if (plain.family === "ipv6" && /^::ffff:/i.test(plain.address)) return true;
  return refusedRanges.check(plain.address, plain.family);
}

function allowedRanges(policy: AddressPolicy): BlockList {
  const list = new BlockList();
  for (const entry of policy.allowedHosts) {
    const [network, prefix] = entry.split("/");
    const version = network ? isIP(network) : 0;
    if (!network || version === 0) continue;
    const family = version === 6 ? "ipv6" : "ipv4";
    list.addSubnet(
      network,
      prefix === undefined ? (version === 6 ? 128 : 32) : Number(prefix),
      family,
    );
  }
  return list;
}

/** Strips the brackets of an IPv6 literal in a URL's hostname. */
function bareHost(hostname: string): string {
  return hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
}

/**
 * Decides whether a request may connect to `address` (already resolved) for `hostname`. The
 * answer is checked at every connection, so a name that later resolves elsewhere (DNS rebinding)
 * is still refused.
 */
export function addressAllowed(policy: AddressPolicy, hostname: string, address: string): boolean {
  if (policy.allowPrivate || !isPrivateAddress(address)) return true;
  const host = bareHost(hostname).toLowerCase();
  if (policy.allowedHosts.some((entry) => entry.toLowerCase() === host)) return true;
  const plain = unmapped(address);
  return allowedRanges(policy).check(plain.address, plain.family);
}

export function refused(message: string, details: Record<string, unknown>): DomainError {
  return new DomainError("webhook_url_refused", message, details);
}

/**
 * Resolves the URL's host and refuses it when any of its addresses is not allowed. Used when an
 * endpoint is saved; the sender checks again at connection time.
 */
export async function assertUrlAllowed(policy: AddressPolicy, url: URL): Promise<void> {
  const host = bareHost(url.hostname);
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((found) => found.address);
    } catch {
      throw refused(`host ${host} does not resolve`, { field: "url", host });
    }
  }
  const blocked = addresses.find((address) => !addressAllowed(policy, url.hostname, address));
  if (blocked !== undefined) {
    throw refused(
      `host ${host} resolves to ${blocked}, a private or local address; the operator can allow it with SETIA_WEBHOOKS_ALLOWED_HOSTS`,
      { field: "url", host, address: blocked },
    );
  }
}
