/** The data the load phases send: a program, its members, and purchase bodies. */

export interface Member {
  id: string;
  cardNumber: string;
}

export interface Fixture {
  baseUrl: string;
  programId: string;
  /** A pos key of the program: what a till would use. */
  posKey: string;
  members: Member[];
}

type Json = Record<string, unknown>;

async function call(
  baseUrl: string,
  key: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<Json> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined && { "content-type": "application/json" }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as Json;
}

/** A small, seedable PRNG (mulberry32): every run sends the same sequence of members and prices. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Creates a program whose points are available at once, a pos key, and enrols members. */
export async function createFixture(
  baseUrl: string,
  ownerKey: string,
  memberCount: number,
  parallel = 16,
): Promise<Fixture> {
  const program = await call(baseUrl, ownerKey, "POST", "/v1/programs", {
    name: "Benchmark Mart",
    currency: "IDR",
    returnsWindowDays: 0,
  });
  const programId = String(program.id);
  const created = await call(baseUrl, ownerKey, "POST", `/v1/programs/${programId}/api-keys`, {
    name: "bench till",
    role: "pos",
  });
  const posKey = String(created.secret);
  const members: Member[] = new Array(memberCount);
  let next = 0;
  const worker = async () => {
    while (next < memberCount) {
      const index = next++;
      const member = await call(baseUrl, posKey, "POST", `/v1/programs/${programId}/members`, {
        // Valid, distinct Indonesian mobile numbers.
        phone: `0812${String(10_000_000 + index).slice(-8)}`,
        consents: { terms: true },
      });
      members[index] = { id: String(member.id), cardNumber: String(member.cardNumber) };
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { baseUrl, programId, posKey, members };
}

const skus = [
  ["BRS-5KG", "staples", "72500"],
  ["MNYK-2L", "staples", "38900"],
  ["TLR-10", "fresh", "27000"],
  ["SUSU-1L", "dairy", "19500"],
  ["KOPI-200", "drinks", "45000"],
  ["SABUN-3", "household", "15900"],
  ["MIE-5", "staples", "14500"],
  ["AIR-1500", "drinks", "6000"],
] as const;

/**
 * Purchase bodies with a receipt number unique to this run, a random member named half the time
 * by card (as a till scanning it) and half by id, and three lines.
 */
export function purchaseFactory(fixture: Fixture, runTag: string, seed: number): () => Json {
  const random = prng(seed);
  let sequence = 0;
  return () => {
    sequence += 1;
    const member = fixture.members[Math.floor(random() * fixture.members.length)] as Member;
    let totalMinor = 0;
    const lines = [0, 1, 2].map(() => {
      const [sku, category, price] = skus[
        Math.floor(random() * skus.length)
      ] as (typeof skus)[number];
      const quantity = 1 + Math.floor(random() * 3);
      totalMinor += Number(price) * quantity;
      return { sku, category, quantity, unitPrice: price };
    });
    return {
      externalId: `${runTag}-${sequence}`,
      storeId: `S${String(1 + (sequence % 25)).padStart(3, "0")}`,
      channel: "pos",
      occurredAt: new Date(Date.now() - 60_000).toISOString(),
      currency: "IDR",
      total: String(totalMinor),
      member: sequence % 2 === 0 ? { card: member.cardNumber } : { id: member.id },
      lines,
    };
  };
}

export function randomMemberFactory(fixture: Fixture, seed: number): () => Member {
  const random = prng(seed);
  return () => fixture.members[Math.floor(random() * fixture.members.length)] as Member;
}
