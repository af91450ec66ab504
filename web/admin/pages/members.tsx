import { useState } from "react";
import {
  ApiError,
  type Balance,
  type Member,
  newIdempotencyKey,
  type Page,
  query,
  type Voucher,
} from "../../shared/api.ts";
import { formatDate, formatNumber } from "../../shared/i18n.ts";
import { Card, ErrorNote, Field, Select, useAction, useLoad } from "../../shared/ui.tsx";
import { adminPath, useSession } from "../session.ts";

type By = "phone" | "email" | "card";

export function Members() {
  const { api, programId, t, navigate, locale } = useSession();
  const [by, setBy] = useState<By>("phone");
  const [value, setValue] = useState("");
  const [run, busy, error] = useAction();
  const [notFound, setNotFound] = useState(false);
  const recent = useLoad(
    () => api.get<Page<Member>>(`/v1/programs/${programId}/members?limit=20`),
    [programId],
  );
  const open = (member: Member) => navigate(adminPath(`members/${member.id}`));
  return (
    <>
      <h1>{t.members}</h1>
      <form
        className="card row"
        onSubmit={(event) => {
          event.preventDefault();
          setNotFound(false);
          run(async () => {
            try {
              open(
                await api.get<Member>(
                  `/v1/programs/${programId}/members/lookup${query({ [by]: value.trim() })}`,
                ),
              );
            } catch (caught) {
              if (caught instanceof ApiError && caught.code === "member_not_found")
                setNotFound(true);
              else throw caught;
            }
          });
        }}
      >
        <Select
          label={t.searchBy}
          value={by}
          options={[
            { value: "phone", label: t.phone },
            { value: "email", label: t.email },
            { value: "card", label: t.card },
          ]}
          onChange={setBy}
        />
        <Field label={t[by === "card" ? "card" : by]} value={value} onChange={setValue} required />
        <button type="submit" disabled={busy}>
          {t.search}
        </button>
      </form>
      {notFound && <p role="status">{t.notFound}</p>}
      <ErrorNote error={error} />
      <Card title={t.recentMembers}>
        <ErrorNote error={recent.error} />
        <table>
          <thead>
            <tr>
              <th>{t.card}</th>
              <th>{t.name}</th>
              <th>{t.phone}</th>
              <th>{t.status}</th>
              <th>{t.date}</th>
            </tr>
          </thead>
          <tbody>
            {recent.data?.data.map((member) => (
              <tr key={member.id}>
                <td>
                  <a
                    href={adminPath(`members/${member.id}`)}
                    onClick={(event) => {
                      event.preventDefault();
                      open(member);
                    }}
                  >
                    {member.cardNumber}
                  </a>
                </td>
                <td>{member.name ?? "—"}</td>
                <td>{member.phone ?? "—"}</td>
                <td>{member.status}</td>
                <td>{formatDate(member.createdAt, locale)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
    </>
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
