import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, nextPhone, purchase, type TestApi } from "../harness.ts";
import { expectError, expectNothingWritten } from "./support.ts";

type Json = Record<string, unknown>;

interface Fixture {
  idr: string;
  jpy: string;
  other: string;
  /** Member of idr with points, a purchase with two lines, and a phone. */
  m1: string;
  m1Card: string;
  m2: string;
  /** Member of the other program. */
  mB: string;
  mBPhone: string;
  mBCard: string;
  /** A purchase of the other program. */
  txB: string;
  future: (minutes: number) => string;
}

interface Case {
  name: string;
  status: number;
  code: string;
  send: (api: TestApi, f: Fixture) => ReturnType<TestApi["call"]>;
}

const unknownMember = "mbr_01aaaaaaaaaaaaaaaaaaaaaaaa";

/** A valid 16-digit card number with its last digit changed, so the Luhn check fails. */
function breakCheckDigit(card: string): string {
  const last = Number(card.at(-1));
  return card.slice(0, 15) + String((last + 1) % 10);
}

const post =
  (path: (f: Fixture) => string, body: (f: Fixture) => unknown, headers?: Record<string, string>) =>
  (api: TestApi, f: Fixture) =>
    api.call("POST", path(f), { body: body(f), ...(headers && { headers }) });
const get = (path: (f: Fixture) => string) => (api: TestApi, f: Fixture) =>
  api.call("GET", path(f));

const members = (f: Fixture) => `/v1/programs/${f.idr}/members`;
const transactions = (f: Fixture) => `/v1/programs/${f.idr}/transactions`;
const refunds = (f: Fixture) => `/v1/programs/${f.idr}/refunds`;
const redemptions = (f: Fixture) => `/v1/programs/${f.idr}/members/${f.m1}/redemptions`;
const adjustments = (f: Fixture) => `/v1/programs/${f.idr}/members/${f.m1}/adjustments`;
const holds = (f: Fixture) => `/v1/programs/${f.idr}/members/${f.m1}/holds`;
const transfers = (f: Fixture) => `/v1/programs/${f.idr}/transfers`;
const enrol = (fields: Json) => ({ phone: nextPhone(), consents: { terms: true }, ...fields });
const refundOfR1 = (fields: Json) => ({
  externalId: `F-${Math.random()}`,
  transaction: { storeId: "S1", externalId: "R-1" },
  ...fields,
});
const newProgram = (fields: Json) =>
  post(
    () => "/v1/programs",
    () => ({ name: "Bad", ...fields }),
  );
const patchProgram = (fields: Json) => (api: TestApi, f: Fixture) =>
  api.call("PATCH", `/v1/programs/${f.idr}`, { body: fields });

const v = { status: 400, code: "validation_failed" } as const;
const precision = { status: 422, code: "amount_precision" } as const;
const noMember = { status: 404, code: "member_not_found" } as const;

const cases: Case[] = [
  // Wrong types.
  {
    name: "enrol: phone as a number",
    ...v,
    send: post(members, () => enrol({ phone: 81234567890 })),
  },
  {
    name: "purchase: total as a boolean",
    ...v,
    send: post(transactions, () => purchase("B-1", { total: true })),
  },
  {
    name: "purchase: occurredAt not a date-time",
    ...v,
    send: post(transactions, () => purchase("B-1", { occurredAt: "yesterday" })),
  },
  {
    name: "purchase: occurredAt without offset",
    ...v,
    send: post(transactions, () => purchase("B-1", { occurredAt: "2026-03-02 02:00" })),
  },
  {
    name: "purchase: unknown channel",
    ...v,
    send: post(transactions, () => purchase("B-1", { channel: "fax" })),
  },
  {
    name: "purchase: lines not an array",
    ...v,
    send: post(transactions, () => purchase("B-1", { lines: { sku: "A" } })),
  },
  { name: "purchase: body is an array", ...v, send: post(transactions, () => [purchase("B-1")]) },
  {
    name: "redemption: points as a string",
    ...v,
    send: post(redemptions, () => ({ points: "10" })),
  },
  {
    name: "enrol: birthday not a date",
    ...v,
    send: post(members, () => enrol({ birthday: "31/12/1990" })),
  },
  {
    name: "enrol: malformed email",
    ...v,
    send: post(members, () => enrol({ phone: undefined, email: "siti@" })),
  },
  // Missing fields.
  {
    name: "purchase: no storeId",
    ...v,
    send: post(transactions, () => purchase("B-1", { storeId: undefined })),
  },
  {
    name: "purchase: no total",
    ...v,
    send: post(transactions, () => purchase("B-1", { total: undefined })),
  },
  { name: "purchase: empty externalId", ...v, send: post(transactions, () => purchase("   ")) },
  { name: "enrol: no consents", ...v, send: post(members, () => ({ phone: nextPhone() })) },
  {
    name: "enrol: terms not accepted",
    ...v,
    send: post(members, () => enrol({ consents: { terms: false } })),
  },
  {
    name: "enrol: neither phone nor email",
    ...v,
    send: post(members, () => enrol({ phone: undefined })),
  },
  { name: "refund: neither amount nor lines", ...v, send: post(refunds, () => refundOfR1({})) },
  {
    name: "refund: both amount and lines",
    ...v,
    send: post(refunds, () => refundOfR1({ amount: "1", lines: [{ lineNo: 1, quantity: 1 }] })),
  },
  { name: "adjustment: no reason", ...v, send: post(adjustments, () => ({ points: 5 })) },
  {
    name: "program: no name",
    ...v,
    send: post(
      () => "/v1/programs",
      () => ({ currency: "IDR" }),
    ),
  },
  {
    name: "api key: no role",
    ...v,
    send: post(
      (f) => `/v1/programs/${f.idr}/api-keys`,
      () => ({ name: "till" }),
    ),
  },
  { name: "lookup: no identifier", ...v, send: get((f) => `${members(f)}/lookup`) },
  {
    name: "lookup: two identifiers",
    ...v,
    send: get((f) => `${members(f)}/lookup?phone=081234567890&email=a@b.co`),
  },
  {
    name: "member update: nothing to update",
    ...v,
    send: (api, f) => api.call("PATCH", `${members(f)}/${f.m2}`, { body: {} }),
  },
  {
    name: "batch: no transactions",
    ...v,
    send: post(
      (f) => `${transactions(f)}/batch`,
      () => ({ transactions: [] }),
    ),
  },
  {
    name: "batch: one item of the wrong type fails the whole call",
    ...v,
    send: post(
      (f) => `${transactions(f)}/batch`,
      () => ({ transactions: [purchase("B-2"), purchase("B-3", { total: [] })] }),
    ),
  },
  // Unknown fields: every body schema is strict.
  {
    name: "purchase: unknown field",
    ...v,
    send: post(transactions, () => purchase("B-1", { discount: "10" })),
  },
  {
    name: "purchase: unknown line field",
    ...v,
    send: post(transactions, () =>
      purchase("B-1", { lines: [{ sku: "A", quantity: 1, unitPrice: "100000", colour: "red" }] }),
    ),
  },
  {
    name: "purchase: unknown member field",
    ...v,
    send: post(transactions, (f) => purchase("B-1", { member: { id: f.m1, name: "Siti" } })),
  },
  {
    name: "purchase: member by two identifiers",
    ...v,
    send: post(transactions, (f) => purchase("B-1", { member: { id: f.m1, card: f.m1Card } })),
  },
  { name: "enrol: unknown field", ...v, send: post(members, () => enrol({ nickname: "Sit" })) },
  {
    name: "enrol: unknown consent",
    ...v,
    send: post(members, () => enrol({ consents: { terms: true, cookies: true } })),
  },
  {
    name: "enrol: unknown marketing channel",
    ...v,
    send: post(members, () => enrol({ consents: { terms: true, marketing: { fax: true } } })),
  },
  {
    name: "redemption: unknown field",
    ...v,
    send: post(redemptions, () => ({ points: 1, note: "x" })),
  },
  {
    name: "refund: unknown field",
    ...v,
    send: post(refunds, () => refundOfR1({ amount: "1", reason: "rusak" })),
  },
  { name: "hold: unknown field", ...v, send: post(holds, () => ({ points: 1, till: 3 })) },
  {
    name: "transfer: unknown field",
    ...v,
    send: post(transfers, (f) => ({ fromMemberId: f.m1, toMemberId: f.m2, points: 1, fee: 0 })),
  },
  {
    name: "block: unknown field",
    ...v,
    send: post(
      (f) => `${members(f)}/${f.m2}/block`,
      () => ({ reason: "fraud", until: "2027-01-01" }),
    ),
  },
  { name: "program: unknown field", ...v, send: newProgram({ colour: "red" }) },
  {
    name: "program: unknown earn-rate field",
    ...v,
    send: newProgram({ earnRate: { points: 1, per: "10000", cap: 5 } }),
  },
  {
    name: "program: unknown expiry field",
    ...v,
    send: newProgram({ expiry: { policy: "none", months: 3 } }),
  },
  {
    name: "program update: unknown field",
    ...v,
    send: patchProgram({ name: "Baru", currency: "USD" }),
  },
  {
    name: "api key: unknown field",
    ...v,
    send: post(
      (f) => `/v1/programs/${f.idr}/api-keys`,
      () => ({ name: "till", role: "pos", scopes: ["all"] }),
    ),
  },
  // Negative, zero and fractional points and amounts.
  { name: "redemption: negative points", ...v, send: post(redemptions, () => ({ points: -5 })) },
  { name: "redemption: zero points", ...v, send: post(redemptions, () => ({ points: 0 })) },
  { name: "redemption: fractional points", ...v, send: post(redemptions, () => ({ points: 2.5 })) },
  {
    name: "adjustment: zero points",
    ...v,
    send: post(adjustments, () => ({ points: 0, reason: "nothing" })),
  },
  {
    name: "adjustment: fractional points",
    ...v,
    send: post(adjustments, () => ({ points: 1.5, reason: "half" })),
  },
  { name: "hold: negative points", ...v, send: post(holds, () => ({ points: -1 })) },
  {
    name: "hold: ttl below the minimum",
    ...v,
    send: post(holds, () => ({ points: 1, ttlSeconds: 5 })),
  },
  {
    name: "transfer: fractional points",
    ...v,
    send: post(transfers, (f) => ({ fromMemberId: f.m1, toMemberId: f.m2, points: 0.5 })),
  },
  {
    name: "purchase: negative total (number)",
    ...v,
    send: post(transactions, () => purchase("B-1", { total: -100 })),
  },
  {
    name: "purchase: negative total (string)",
    ...v,
    send: post(transactions, () => purchase("B-1", { total: "-100" })),
  },
  {
    name: "purchase: total with a thousands separator",
    ...v,
    send: post(transactions, () => purchase("B-1", { total: "100.000,00" })),
  },
  {
    name: "purchase: negative line quantity",
    ...v,
    send: post(transactions, () =>
      purchase("B-1", { lines: [{ sku: "A", quantity: -1, unitPrice: "1000" }] }),
    ),
  },
  {
    name: "purchase: quantity with 4 decimals",
    ...v,
    send: post(transactions, () =>
      purchase("B-1", { lines: [{ sku: "A", quantity: 0.0001, unitPrice: "1000" }] }),
    ),
  },
  { name: "refund: zero amount", ...v, send: post(refunds, () => refundOfR1({ amount: "0" })) },
  {
    name: "refund: fractional line number",
    ...v,
    send: post(refunds, () => refundOfR1({ lines: [{ lineNo: 1.5, quantity: 1 }] })),
  },
  // More decimals than the currency has.
  {
    name: "IDR total with 3 decimals",
    ...precision,
    send: post(transactions, () => purchase("B-1", { total: "100000.005" })),
  },
  {
    name: "IDR total with 3 decimals (number)",
    ...precision,
    send: post(transactions, () => purchase("B-1", { total: 100000.001 })),
  },
  {
    name: "IDR unit price with 3 decimals",
    ...precision,
    send: post(transactions, () =>
      purchase("B-1", { lines: [{ sku: "A", quantity: 1, unitPrice: "10.123" }] }),
    ),
  },
  {
    name: "IDR refund with 3 decimals",
    ...precision,
    send: post(refunds, () => refundOfR1({ amount: "1.001" })),
  },
  {
    name: "JPY total with decimals",
    ...precision,
    send: post(
      (f) => `/v1/programs/${f.jpy}/transactions`,
      () => purchase("B-1", { currency: "JPY", total: "1000.5" }),
    ),
  },
  {
    name: "JPY total with a significant trailing decimal",
    ...precision,
    send: post(
      (f) => `/v1/programs/${f.jpy}/transactions`,
      () => purchase("B-1", { currency: "JPY", total: "1000.50" }),
    ),
  },
  {
    name: "JPY program with a fractional earn amount",
    ...precision,
    send: newProgram({ currency: "JPY", earnRate: { points: 1, per: "100.5" } }),
  },
  {
    name: "program earning per zero",
    ...v,
    send: newProgram({ earnRate: { points: 1, per: "0" } }),
  },
  // Currencies.
  { name: "program: unknown currency", ...v, send: newProgram({ currency: "XYZ" }) },
  { name: "program: lower-case currency", ...v, send: newProgram({ currency: "idr" }) },
  { name: "program: empty currency", ...v, send: newProgram({ currency: "" }) },
  {
    name: "purchase: USD in an IDR program",
    status: 422,
    code: "currency_mismatch",
    send: post(transactions, () => purchase("B-1", { currency: "USD" })),
  },
  {
    name: "purchase: IDR in a JPY program",
    status: 422,
    code: "currency_mismatch",
    send: post(
      (f) => `/v1/programs/${f.jpy}/transactions`,
      () => purchase("B-1"),
    ),
  },
  // Huge numbers.
  {
    name: "purchase: total in exponent notation",
    ...v,
    send: post(transactions, () => purchase("B-1", { total: "1e30" })),
  },
  {
    name: "purchase: total of 21 digits",
    ...v,
    send: post(transactions, () => purchase("B-1", { total: "100000000000000000000" })),
  },
  {
    name: "purchase: total 1e300 as a number",
    ...v,
    send: post(transactions, () => purchase("B-1", { total: 1e300 })),
  },
  {
    name: "purchase: unit price of 30 digits",
    ...v,
    send: post(transactions, () =>
      purchase("B-1", {
        lines: [{ sku: "A", quantity: 1, unitPrice: "123456789012345678901234567890" }],
      }),
    ),
  },
  {
    name: "purchase: huge quantity",
    ...v,
    send: post(transactions, () =>
      purchase("B-1", { lines: [{ sku: "A", quantity: 1e9, unitPrice: "1" }] }),
    ),
  },
  {
    name: "redemption: points above the maximum",
    ...v,
    send: post(redemptions, () => ({ points: 1e15 })),
  },
  {
    name: "redemption: points beyond 2^53",
    ...v,
    send: post(redemptions, () => '{"points": 123456789012345678901234567890}'),
  },
  {
    name: "adjustment: points below the minimum",
    ...v,
    send: post(adjustments, () => ({ points: -1e13, reason: "huge" })),
  },
  {
    name: "program: earn points too large",
    ...v,
    send: newProgram({ earnRate: { points: 1e9, per: "1" } }),
  },
  {
    name: "program: returns window over a year",
    ...v,
    send: newProgram({ returnsWindowDays: 400 }),
  },
  { name: "members: limit 1e10", ...v, send: get((f) => `${members(f)}?limit=1e10`) },
  // Phone numbers and cards.
  { name: "enrol: too short a phone", ...v, send: post(members, () => enrol({ phone: "12345" })) },
  {
    name: "enrol: phone with letters",
    ...v,
    send: post(members, () => enrol({ phone: "0812-ABCD-7890" })),
  },
  {
    name: "enrol: foreign number too short",
    ...v,
    send: post(members, () => enrol({ phone: "+1 555" })),
  },
  {
    name: "enrol: phone longer than 40 characters",
    ...v,
    send: post(members, () => enrol({ phone: "0".repeat(41) })),
  },
  { name: "lookup: malformed phone", ...v, send: get((f) => `${members(f)}/lookup?phone=999`) },
  {
    name: "purchase: member by malformed phone",
    ...v,
    send: post(transactions, () => purchase("B-1", { member: { phone: "0000" } })),
  },
  {
    name: "lookup: card with a wrong check digit",
    ...v,
    send: get((f) => `${members(f)}/lookup?card=${breakCheckDigit(f.m1Card)}`),
  },
  { name: "lookup: card with letters", ...v, send: get((f) => `${members(f)}/lookup?card=8abc`) },
  {
    name: "purchase: member by card with a wrong check digit",
    ...v,
    send: post(transactions, (f) =>
      purchase("B-1", { member: { card: breakCheckDigit(f.m1Card) } }),
    ),
  },
  // Unknown members and members of another program look the same.
  {
    name: "purchase: unknown member id",
    ...noMember,
    send: post(transactions, () => purchase("B-1", { member: { id: unknownMember } })),
  },
  {
    name: "redemption: unknown member",
    ...noMember,
    send: post(
      (f) => `/v1/programs/${f.idr}/members/${unknownMember}/redemptions`,
      () => ({ points: 1 }),
    ),
  },
  {
    name: "hold: unknown member",
    ...noMember,
    send: post(
      (f) => `/v1/programs/${f.idr}/members/${unknownMember}/holds`,
      () => ({ points: 1 }),
    ),
  },
  { name: "member: unknown id", ...noMember, send: get((f) => `${members(f)}/${unknownMember}`) },
  {
    name: "lookup: unknown phone",
    ...noMember,
    send: get((f) => `${members(f)}/lookup?phone=081299999999`),
  },
  {
    name: "purchase: another program's member by id",
    ...noMember,
    send: post(transactions, (f) => purchase("B-1", { member: { id: f.mB } })),
  },
  {
    name: "purchase: another program's member by phone",
    ...noMember,
    send: post(transactions, (f) => purchase("B-1", { member: { phone: f.mBPhone } })),
  },
  {
    name: "purchase: another program's member by card",
    ...noMember,
    send: post(transactions, (f) => purchase("B-1", { member: { card: f.mBCard } })),
  },
  {
    name: "redemption: another program's member",
    ...noMember,
    send: post(
      (f) => `/v1/programs/${f.idr}/members/${f.mB}/redemptions`,
      () => ({ points: 1 }),
    ),
  },
  {
    name: "adjustment: another program's member",
    ...noMember,
    send: post(
      (f) => `/v1/programs/${f.idr}/members/${f.mB}/adjustments`,
      () => ({ points: 1, reason: "gift" }),
    ),
  },
  {
    name: "hold: another program's member",
    ...noMember,
    send: post(
      (f) => `/v1/programs/${f.idr}/members/${f.mB}/holds`,
      () => ({ points: 1 }),
    ),
  },
  {
    name: "transfer: to another program's member",
    ...noMember,
    send: post(transfers, (f) => ({ fromMemberId: f.m1, toMemberId: f.mB, points: 1 })),
  },
  {
    name: "block: another program's member",
    ...noMember,
    send: post(
      (f) => `${members(f)}/${f.mB}/block`,
      () => ({}),
    ),
  },
  {
    name: "update: another program's member",
    ...noMember,
    send: (api, f) => api.call("PATCH", `${members(f)}/${f.mB}`, { body: { name: "X" } }),
  },
  {
    name: "balance: another program's member",
    ...noMember,
    send: get((f) => `${members(f)}/${f.mB}/balance`),
  },
  {
    name: "history: another program's member",
    ...noMember,
    send: get((f) => `${members(f)}/${f.mB}/history`),
  },
  {
    name: "lookup: another program's member by phone",
    ...noMember,
    send: get((f) => `${members(f)}/lookup?phone=${encodeURIComponent(f.mBPhone)}`),
  },
  {
    name: "lookup: another program's member by card",
    ...noMember,
    send: get((f) => `${members(f)}/lookup?card=${f.mBCard}`),
  },
  // Time.
  {
    name: "purchase: occurredAt an hour ahead",
    status: 422,
    code: "occurred_in_future",
    send: post(transactions, (f) => purchase("B-1", { occurredAt: f.future(60) })),
  },
  {
    name: "purchase: occurredAt beyond the allowed clock skew",
    status: 422,
    code: "occurred_in_future",
    send: post(transactions, (f) => purchase("B-1", { occurredAt: f.future(6) })),
  },
  {
    name: "api key: expiresAt in the past",
    ...v,
    send: post(
      (f) => `/v1/programs/${f.idr}/api-keys`,
      () => ({ name: "old", role: "pos", expiresAt: "2020-01-01T00:00:00Z" }),
    ),
  },
  // Refunds.
  {
    name: "refund: more than the total",
    status: 422,
    code: "refund_exceeds_total",
    send: post(refunds, () => refundOfR1({ amount: "100000.01" })),
  },
  {
    name: "refund: twice the total",
    status: 422,
    code: "refund_exceeds_total",
    send: post(refunds, () => refundOfR1({ amount: "200000" })),
  },
  {
    name: "refund: unknown line",
    status: 422,
    code: "refund_line_invalid",
    send: post(refunds, () => refundOfR1({ lines: [{ lineNo: 9, quantity: 1 }] })),
  },
  {
    name: "refund: more of a line than was bought",
    status: 422,
    code: "refund_line_invalid",
    send: post(refunds, () => refundOfR1({ lines: [{ lineNo: 1, quantity: 3 }] })),
  },
  {
    name: "refund: second line unknown, first valid",
    status: 422,
    code: "refund_line_invalid",
    send: post(refunds, () =>
      refundOfR1({
        lines: [
          { lineNo: 1, quantity: 1 },
          { lineNo: 3, quantity: 1 },
        ],
      }),
    ),
  },
  {
    name: "refund: unknown purchase",
    status: 404,
    code: "transaction_not_found",
    send: post(refunds, () => ({
      externalId: "F-x",
      transaction: { storeId: "S1", externalId: "nope" },
      amount: "1",
    })),
  },
  {
    name: "refund: another program's purchase",
    status: 404,
    code: "transaction_not_found",
    send: post(refunds, (f) => ({ externalId: "F-x", transaction: { id: f.txB }, amount: "1" })),
  },
  // Ledger rules.
  {
    name: "transfer: to self",
    status: 422,
    code: "transfer_same_member",
    send: post(transfers, (f) => ({ fromMemberId: f.m1, toMemberId: f.m1, points: 1 })),
  },
  {
    name: "redemption: more than available (with an Idempotency-Key)",
    status: 409,
    code: "insufficient_points",
    send: post(redemptions, () => ({ points: 1000 }), { "idempotency-key": "bad-input-1" }),
  },
  {
    name: "adjustment: debit more than available",
    status: 409,
    code: "insufficient_points",
    send: post(adjustments, () => ({ points: -1000, reason: "correction" })),
  },
  {
    name: "enrol: phone already enrolled",
    status: 409,
    code: "identifier_taken",
    send: post(members, () => enrol({ phone: "+62 812 3456 7890" })),
  },
  {
    name: "update: removing both phone and email",
    ...v,
    send: (api, f) => api.call("PATCH", `${members(f)}/${f.m2}`, { body: { phone: null } }),
  },
  // Transport: JSON, content types, routes.
  {
    name: "invalid JSON",
    status: 400,
    code: "invalid_json",
    send: post(transactions, () => '{"externalId": "B-1",'),
  },
  {
    name: "empty JSON body",
    status: 400,
    code: "invalid_json",
    send: post(transactions, () => ""),
  },
  { name: "JSON null body", ...v, send: post(transactions, () => "null") },
  {
    name: "XML body",
    status: 415,
    code: "unsupported_media_type",
    send: post(transactions, () => "<purchase/>", { "content-type": "application/xml" }),
  },
  {
    name: "form body",
    status: 415,
    code: "unsupported_media_type",
    send: post(members, () => "phone=081234567890", {
      "content-type": "application/x-www-form-urlencoded",
    }),
  },
  {
    name: "plain-text body",
    status: 415,
    code: "unsupported_media_type",
    send: post(members, () => JSON.stringify(enrol({})), { "content-type": "text/plain" }),
  },
  {
    name: "unknown route",
    status: 404,
    code: "route_not_found",
    send: get(() => "/v1/nothing-here"),
  },
  {
    name: "unknown sub-route",
    status: 404,
    code: "route_not_found",
    send: post(
      (f) => `/v1/programs/${f.idr}/vouchers`,
      () => ({}),
    ),
  },
  {
    name: "unknown method on a known path",
    status: 404,
    code: "route_not_found",
    send: (api, f) => api.call("DELETE", `/v1/programs/${f.idr}`),
  },
  // Pagination.
  {
    name: "members: cursor not base64 of an id",
    ...v,
    send: get((f) => `${members(f)}?cursor=hello`),
  },
  { name: "members: cursor of garbage", ...v, send: get((f) => `${members(f)}?cursor=!!!`) },
  {
    name: "history: bad cursor",
    ...v,
    send: get(
      (f) =>
        `${members(f)}/${f.m1}/history?cursor=${Buffer.from("' or 1=1").toString("base64url")}`,
    ),
  },
  { name: "transactions: bad cursor", ...v, send: get((f) => `${transactions(f)}?cursor=abc`) },
  {
    name: "members: cursor too long",
    ...v,
    send: get((f) => `${members(f)}?cursor=${"a".repeat(201)}`),
  },
  { name: "members: limit over the maximum", ...v, send: get((f) => `${members(f)}?limit=201`) },
  { name: "members: limit zero", ...v, send: get((f) => `${members(f)}?limit=0`) },
  { name: "members: limit not a number", ...v, send: get((f) => `${members(f)}?limit=ten`) },
  {
    name: "transactions: limit over the maximum",
    ...v,
    send: get((f) => `${transactions(f)}?limit=1000`),
  },
  {
    name: "events: limit over the maximum",
    ...v,
    send: get((f) => `/v1/programs/${f.idr}/events?limit=201`),
  },
  {
    name: "events: negative after",
    ...v,
    send: get((f) => `/v1/programs/${f.idr}/events?after=-1`),
  },
  // Program settings.
  { name: "program: unknown timezone", ...v, send: newProgram({ timezone: "Mars/Olympus_Mons" }) },
  { name: "program: timezone abbreviation typo", ...v, send: newProgram({ timezone: "Asia/Jkt" }) },
  {
    name: "program update: unknown timezone",
    ...v,
    send: patchProgram({ timezone: "Asia/Atlantis" }),
  },
  { name: "program update: nothing to update", ...v, send: patchProgram({}) },
  {
    name: "program: unknown expiry policy",
    ...v,
    send: newProgram({ expiry: { policy: "forever" } }),
  },
  {
    name: "program: expiry without its months",
    ...v,
    send: newProgram({ expiry: { policy: "months_after_earn" } }),
  },
  {
    name: "program: expiry of zero months",
    ...v,
    send: newProgram({ expiry: { policy: "months_after_earn", months: 0 } }),
  },
  {
    name: "program: expiry of 1.5 months",
    ...v,
    send: newProgram({ expiry: { policy: "months_after_earn", months: 1.5 } }),
  },
  {
    name: "program: end of year beyond 10 years",
    ...v,
    send: newProgram({ expiry: { policy: "end_of_year", years: 11 } }),
  },
  { name: "program: expiry as a string", ...v, send: newProgram({ expiry: "12 months" }) },
  {
    name: "program update: unknown expiry policy",
    ...v,
    send: patchProgram({ expiry: { policy: "never" } }),
  },
  { name: "program: unknown refund policy", ...v, send: newProgram({ refundPolicy: "keep" }) },
  { name: "program: unknown locale", ...v, send: newProgram({ locale: "fr" }) },
  {
    name: "program: unknown rounding",
    ...v,
    send: newProgram({ earnRate: { points: 1, per: "10000", rounding: "bankers" } }),
  },
];

describe("bad requests are refused with a clear error and write nothing", () => {
  let api: TestApi;
  const f = {} as Fixture;

  beforeAll(async () => {
    api = await createTestApi();
    f.future = (minutes) => new Date(api.clock.now().getTime() + minutes * 60_000).toISOString();
    f.idr = await api.program();
    f.jpy = await api.program({ currency: "JPY", earnRate: { points: 1, per: "100" } });
    f.other = await api.program();
    f.m1 = await api.member(f.idr, { phone: "0812-3456-7890", email: "siti@example.com" });
    f.m2 = await api.member(f.idr);
    f.mBPhone = "+6281298765432";
    f.mB = await api.member(f.other, { phone: f.mBPhone });
    f.m1Card = (await api.call("GET", `/v1/programs/${f.idr}/members/${f.m1}`)).body
      .cardNumber as string;
    f.mBCard = (await api.call("GET", `/v1/programs/${f.other}/members/${f.mB}`)).body
      .cardNumber as string;
    const earn = await api.call("POST", `/v1/programs/${f.idr}/transactions`, {
      body: purchase("R-1", {
        member: { id: f.m1 },
        lines: [
          { sku: "A", quantity: 2, unitPrice: "25000" },
          { sku: "B", quantity: 1, unitPrice: "50000" },
        ],
      }),
    });
    expect(earn.status).toBe(201);
    expect(earn.body.pointsEarned).toBe(10);
    const other = await api.call("POST", `/v1/programs/${f.other}/transactions`, {
      body: purchase("R-B", { member: { id: f.mB } }),
    });
    f.txB = other.body.transactionId as string;
  });
  afterAll(() => api.close());

  it.each(cases)("$name → $status $code", async ({ status, code, send }) => {
    const response = await expectNothingWritten(api, () => send(api, f));
    expectError(response, status, code);
  });

  it("names the invalid fields in the details of a validation error", async () => {
    const response = await api.call("POST", `/v1/programs/${f.idr}/transactions`, {
      body: purchase("B-1", { total: true, storeId: undefined, extra: 1 }),
    });
    expectError(response, 400, "validation_failed");
    const issues = response.body.error?.details?.issues as { path: string }[];
    expect(issues.map((issue) => issue.path)).toEqual(
      expect.arrayContaining(["body.total", "body.storeId"]),
    );
  });

  it("still accepts the good versions of the refused requests", async () => {
    // Guards the table: each refusal above is about the named fault, not a broken fixture.
    const jpy = await api.call("POST", `/v1/programs/${f.jpy}/transactions`, {
      body: purchase("G-1", { currency: "JPY", total: "1000.00" }),
    });
    expect(jpy.status).toBe(201);
    expect(jpy.body.total).toBe("1000");
    const idr = await api.call("POST", `/v1/programs/${f.idr}/transactions`, {
      body: purchase("G-2", {
        total: "100000.50",
        occurredAt: f.future(4),
        member: { card: f.m1Card },
      }),
    });
    expect(idr.status).toBe(201);
    expect(idr.body.total).toBe("100000.50");
    const refund = await api.call("POST", `/v1/programs/${f.idr}/refunds`, {
      body: refundOfR1({ lines: [{ lineNo: 1, quantity: 2 }] }),
    });
    expect(refund.status).toBe(201);
    expect(refund.body.amount).toBe("50000.00");
  });
});
