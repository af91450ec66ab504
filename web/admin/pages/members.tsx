import { useState } from "react";
import {
  type Balance,
  type Member,
  newIdempotencyKey,
  type Page,
  query,
  type Voucher,
} from "../../shared/api.ts";
import { fill, formatDate, formatNumber } from "../../shared/i18n.ts";
import { Card, ErrorNote, Field, useAction, useLoad } from "../../shared/ui.tsx";
import { adminPath, useSession } from "../session.ts";

/** A member as lists and search results show them (GET …/members, with or without q). */
type Listed = Member & { balance: Balance; tier: { code: string; rank: number } | null };
type Listing = Page<Listed> & { more: boolean };

const searchLimit = 20;

/** The phone with its middle hidden, so a screen seen over a shoulder does not give it away. */
function maskPhone(phone: string | null): string {
  if (!phone) return "—";
  return `${phone.slice(0, 3)}${"•".repeat(Math.max(phone.length - 7, 0))}${phone.slice(-4)}`;
}

/** Whether the server would take the text: an identifier, or a name word of 3 letters or more. */
function searchable(text: string): boolean {
  return /[\d@]/.test(text) || text.split(/[^\p{L}\p{N}]+/u).some((word) => word.length >= 3);
}

export function Members() {
  const { api, programId, t } = useSession();
  const [text, setText] = useState("");
  const [tooShort, setTooShort] = useState(false);
  const [found, setFound] = useState<Listing | null>(null);
  const [run, busy, error] = useAction();
  const recent = useLoad(
    () => api.get<Listing>(`/v1/programs/${programId}/members?limit=20`),
    [programId],
  );
  return (
    <>
      <h1>{t.members}</h1>
      <form
        className="card row"
        onSubmit={(event) => {
          event.preventDefault();
          const q = text.trim();
          setTooShort(!searchable(q));
          if (!searchable(q)) return;
          run(async () => {
            setFound(null);
            setFound(
              await api.get<Listing>(
                `/v1/programs/${programId}/members${query({ q, limit: searchLimit })}`,
              ),
            );
          });
        }}
      >
        <Field
          label={t.memberSearch}
          name="q"
          value={text}
          onChange={setText}
          hint={t.memberSearchHint}
          error={tooShort ? t.searchTooShort : undefined}
          required
        />
        <button type="submit" disabled={busy}>
          {t.search}
        </button>
      </form>
      <ErrorNote error={error} />
      {found && (
        <Card title={t.searchResults}>
          {found.data.length === 0 ? (
            <p role="status">{t.notFound}</p>
          ) : (
            <>
              <p role="status" className="muted">
                {fill(t.resultsFound, { count: found.data.length })}
              </p>
              <MemberTable members={found.data} />
            </>
          )}
          {found.more && <p>{fill(t.moreResults, { count: searchLimit })}</p>}
        </Card>
      )}
      <Card title={t.recentMembers}>
        <ErrorNote error={recent.error} />
        <MemberTable members={recent.data?.data ?? []} />
      </Card>
    </>
  );
}

/** Name (opens the 360° page), masked phone, card, tier, points available, status. */
function MemberTable({ members }: { members: Listed[] }) {
  const { t, navigate, locale } = useSession();
  return (
    <table>
      <thead>
        <tr>
          <th>{t.name}</th>
          <th>{t.phone}</th>
          <th>{t.card}</th>
          <th>{t.tier}</th>
          <th>{t.pointsAvailable}</th>
          <th>{t.status}</th>
        </tr>
      </thead>
      <tbody>
        {members.map((member) => (
          <tr key={member.id}>
            <td>
              <a
                href={adminPath(`members/${member.id}`)}
                onClick={(event) => {
                  event.preventDefault();
                  navigate(adminPath(`members/${member.id}`));
                }}
              >
                {member.name ?? member.cardNumber}
              </a>
            </td>
            <td>{maskPhone(member.phone)}</td>
            <td>{member.cardNumber}</td>
            <td>{member.tier?.code ?? "—"}</td>
            <td>{formatNumber(member.balance.available, locale)}</td>
            <td>{member.status}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

interface HistoryEntry {
  id: string;
  kind: string;
  points: Balance;
  reason: string | null;
  createdAt: string;
}

interface MemberTier {
  tier: { code: string; names?: Record<string, string> } | null;
}

export function MemberPage({ memberId }: { memberId: string }) {
  const { api, programId, t, locale, role } = useSession();
  const base = `/v1/programs/${programId}/members/${memberId}`;
  const member = useLoad(() => api.get<Member & { balance: Balance }>(base), [base]);
  const history = useLoad(() => api.get<Page<HistoryEntry>>(`${base}/history?limit=50`), [base]);
  const expiring = useLoad(
    () => api.get<{ data: { points: number; expiresAt: string }[] }>(`${base}/expiring?days=30`),
    [base],
  );
  const tier = useLoad(() => api.get<MemberTier>(`${base}/tier`), [base]);
  const vouchers = useLoad(() => api.get<Page<Voucher>>(`${base}/vouchers`), [base]);
  const referral = useLoad(
    () =>
      api.get<{
        code: string;
        referrals: { pending: number; completed: number; rejected: number };
      }>(`${base}/referral`),
    [base],
  );
  const [points, setPoints] = useState("");
  const [reason, setReason] = useState("");
  const [saved, setSaved] = useState(false);
  const [run, busy, error] = useAction();
  const canWrite = role === "owner" || role === "admin" || role === "support";
  const m = member.data;
  if (member.error) return <ErrorNote error={member.error} />;
  if (!m) return <p>{t.loading}</p>;
  const reload = () => {
    member.reload();
    history.reload();
  };
  const expiringPoints = (expiring.data?.data ?? []).reduce((sum, row) => sum + row.points, 0);
  return (
    <>
      <h1>
        {m.name ?? m.cardNumber} <span className="muted">({m.status})</span>
      </h1>
      <div className="grid">
        <Card title={t.profile}>
          <dl>
            <dt>{t.card}</dt>
            <dd>{m.cardNumber}</dd>
            <dt>{t.phone}</dt>
            <dd>{m.phone ?? "—"}</dd>
            <dt>{t.email}</dt>
            <dd>{m.email ?? "—"}</dd>
            <dt>{t.tier}</dt>
            <dd>
              {tier.data?.tier ? (tier.data.tier.names?.[locale] ?? tier.data.tier.code) : t.noTier}
            </dd>
          </dl>
        </Card>
        <Card title={t.balance}>
          <p className="figure" data-testid="available">
            {formatNumber(m.balance.available, locale)}
          </p>
          <p>
            {t.pending}: {formatNumber(m.balance.pending, locale)} · {t.held}:{" "}
            {formatNumber(m.balance.held, locale)}
          </p>
          <p>
            {t.expiringSoon}: {formatNumber(expiringPoints, locale)}
          </p>
        </Card>
        <Card title={t.consents}>
          <p>
            {t.termsAccepted}: {formatDate(m.consents.termsAcceptedAt, locale)}
          </p>
          <ul>
            {Object.entries(m.consents.marketing).map(([channel, consent]) => (
              <li key={channel}>
                {channel}: {consent.granted ? "✓" : "✗"} ({formatDate(consent.at, locale)})
              </li>
            ))}
          </ul>
        </Card>
        <Card title={t.referrals}>
          {referral.data ? (
            <p>
              {t.referralCode}: <code>{referral.data.code}</code> ·{" "}
              {referral.data.referrals.completed}/{referral.data.referrals.pending}
            </p>
          ) : (
            <p className="muted">—</p>
          )}
        </Card>
      </div>
      {canWrite && (
        <Card title={t.adjust}>
          <form
            className="row"
            onSubmit={(event) => {
              event.preventDefault();
              setSaved(false);
              run(async () => {
                await api.post(
                  `${base}/adjustments`,
                  { points: Number(points), reason },
                  newIdempotencyKey(),
                );
                setPoints("");
                setReason("");
                setSaved(true);
                reload();
              });
            }}
          >
            <Field label={t.points} value={points} onChange={setPoints} type="number" required />
            <Field label={t.reason} value={reason} onChange={setReason} required />
            <button type="submit" disabled={busy}>
              {t.save}
            </button>
            {(role === "owner" || role === "admin") && (
              <button
                type="button"
                className="danger"
                disabled={busy}
                onClick={() =>
                  run(async () => {
                    const action = m.status === "blocked" ? "unblock" : "block";
                    await api.post(
                      `${base}/${action}`,
                      reason ? { reason } : {},
                      newIdempotencyKey(),
                    );
                    reload();
                  })
                }
              >
                {m.status === "blocked" ? t.unblock : t.block}
              </button>
            )}
          </form>
          {saved && (
            <p className="ok" role="status">
              {t.saved}
            </p>
          )}
          <ErrorNote error={error} />
        </Card>
      )}
      <Card title={t.history}>
        <table>
          <thead>
            <tr>
              <th>{t.date}</th>
              <th>{t.kind}</th>
              <th>{t.available}</th>
              <th>{t.pending}</th>
              <th>{t.reason}</th>
            </tr>
          </thead>
          <tbody>
            {history.data?.data.map((entry) => (
              <tr key={entry.id}>
                <td>{formatDate(entry.createdAt, locale, true)}</td>
                <td>{entry.kind}</td>
                <td>{formatNumber(entry.points.available, locale)}</td>
                <td>{formatNumber(entry.points.pending, locale)}</td>
                <td>{entry.reason ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      <Card title={t.vouchers}>
        {vouchers.data?.data.length ? (
          <table>
            <thead>
              <tr>
                <th>{t.code}</th>
                <th>{t.state}</th>
              </tr>
            </thead>
            <tbody>
              {vouchers.data.data.map((voucher) => (
                <tr key={voucher.id}>
                  <td>
                    <code>{voucher.code}</code>
                  </td>
                  <td>{voucher.state}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p className="muted">{t.none}</p>
        )}
      </Card>
    </>
  );
}
