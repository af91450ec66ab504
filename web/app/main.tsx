import "../shared/base.css";
import "./app.css";
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import {
  Api,
  ApiError,
  type Balance,
  type Member,
  newIdempotencyKey,
  type Page,
} from "../shared/api.ts";
import {
  fill,
  formatDate,
  formatNumber,
  initialLocale,
  type Locale,
  storeLocale,
} from "../shared/i18n.ts";
import {
  applyBranding,
  type Branding,
  Card,
  Check,
  ErrorNote,
  Field,
  LocaleSwitch,
  useAction,
  useConfirm,
  useLoad,
  usePageTitle,
} from "../shared/ui.tsx";
import { type Text, text } from "./i18n.ts";

const programStorage = "setia.portal.program";
const api = new Api({ kind: "session", csrfCookie: "setia_member_csrf" });

/** The program comes from the address (/app/prg_…), else the last one used on this device. */
function programFromPath(): string | null {
  const fromPath = location.pathname.split("/")[2];
  if (fromPath) {
    localStorage.setItem(programStorage, fromPath);
    return fromPath;
  }
  return localStorage.getItem(programStorage);
}

interface PortalBalance {
  available: number;
  pending: number;
  expiringSoon: { points: number; before: string };
}
interface PortalCard {
  cardNumber: string;
  qrDataUrl: string;
}
interface Entry {
  id: string;
  kind: string;
  points: Balance;
  reason: string | null;
  createdAt: string;
}
/** The tiers module's member view (GET …/me/tier); 404 tier_ladder_not_found without a ladder. */
interface TierView {
  tier: { code: string; names: Partial<Record<Locale, string>> } | null;
  metricValue: number;
  nextTier: {
    tier: { code: string; names: Partial<Record<Locale, string>> };
    threshold: number;
    missing: number;
  } | null;
}
interface RewardOption {
  reward: { id: string; texts: Record<string, { name: string; description?: string } | undefined> };
  pointsCost: number;
  eligible?: boolean;
  affordable: boolean;
  pointsMissing: number;
}
interface PortalVoucher {
  id: string;
  code: string;
  state: string;
  validUntil?: string | null;
  qrDataUrl?: string;
}

type Tab = "card" | "history" | "rewards" | "profile";

function App() {
  const programId = programFromPath();
  const [locale, setLocale] = useState<Locale>(initialLocale());
  const [member, setMember] = useState<Member | null | undefined>(undefined);
  const [branding, setBranding] = useState<Branding | null>(null);
  const t = text[locale];
  const base = `/v1/portal/${programId}`;
  const brandName = branding?.name ?? "Setia";
  usePageTitle(member ? null : t.signIn, brandName);
  // The program's default language applies without being stored: lang follows the state.
  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);
  useEffect(() => {
    if (!programId) return;
    api.get<Branding>(`${base}/branding`).then(
      (value) => {
        applyBranding(value);
        setBranding(value);
        if (!localStorage.getItem("setia.locale")) setLocale(value.locale);
      },
      () => undefined,
    );
    api.get<{ member: Member }>(`${base}/me`).then(
      (me) => setMember(me.member),
      () => setMember(null),
    );
    if ("serviceWorker" in navigator)
      navigator.serviceWorker.register("/app/sw.js").catch(() => undefined);
  }, [programId, base]);
  const changeLocale = (next: Locale) => {
    storeLocale(next);
    setLocale(next);
  };
  return (
    <>
      <header>
        <a className="skip" href="#main">
          {t.skip}
        </a>
        {branding?.logoUrl ? (
          <img src={branding.logoUrl} alt={branding.name} />
        ) : (
          <strong>{branding?.name ?? "Setia"}</strong>
        )}
        <LocaleSwitch label={t.language} locale={locale} onChange={changeLocale} />
      </header>
      <main id="main" tabIndex={-1}>
        {!programId && <p>{t.noProgram}</p>}
        {programId && member === null && <SignIn t={t} base={base} onMember={setMember} />}
        {programId && member && (
          <Portal
            t={t}
            locale={locale}
            base={base}
            member={member}
            brandName={brandName}
            onSignOut={() => setMember(null)}
          />
        )}
      </main>
    </>
  );
}

function SignIn({
  t,
  base,
  onMember,
}: {
  t: Text;
  base: string;
  onMember: (member: Member) => void;
}) {
  const [enrol, setEnrol] = useState(false);
  const [byEmail, setByEmail] = useState(false);
  const [identifier, setIdentifier] = useState("");
  const [name, setName] = useState("");
  const [terms, setTerms] = useState(false);
  const [marketing, setMarketing] = useState({ email: false, sms: false, whatsapp: false });
  const [sentUntil, setSentUntil] = useState<string | null>(null);
  const [code, setCode] = useState("");
  const [run, busy, error] = useAction();
  const who = byEmail ? { email: identifier.trim() } : { phone: identifier.trim() };
  if (sentUntil)
    return (
      <form
        className="card"
        onSubmit={(event) => {
          event.preventDefault();
          run(async () =>
            onMember(
              (
                await api.post<{ member: Member }>(`${base}/sign-in/verify`, {
                  ...who,
                  code: code.trim(),
                })
              ).member,
            ),
          );
        }}
      >
        <h1>{t.signIn}</h1>
        <p role="status">{fill(t.codeSent, { time: new Date(sentUntil).toLocaleTimeString() })}</p>
        <Field
          label={t.code}
          value={code}
          onChange={setCode}
          inputMode="numeric"
          autoComplete="one-time-code"
          required
        />
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>
          {t.verify}
        </button>
      </form>
    );
  return (
    <form
      className="card"
      onSubmit={(event) => {
        event.preventDefault();
        run(async () => {
          const body = enrol
            ? { ...who, ...(name && { name }), consents: { terms: true, marketing } }
            : who;
          const result = await api.post<{ expiresAt: string }>(
            `${base}/${enrol ? "enrol" : "sign-in/start"}`,
            body,
          );
          setSentUntil(result.expiresAt);
        });
      }}
    >
      <h1>{enrol ? t.enrol : t.signIn}</h1>
      <p>{t.signInHelp}</p>
      <Field
        label={byEmail ? t.email : t.phone}
        type={byEmail ? "email" : "tel"}
        inputMode={byEmail ? "email" : "tel"}
        autoComplete={byEmail ? "email" : "tel"}
        value={identifier}
        onChange={setIdentifier}
        required
      />
      <button type="button" className="secondary" onClick={() => setByEmail(!byEmail)}>
        {byEmail ? t.orPhone : t.orEmail}
      </button>
      {enrol && (
        <>
          <Field label={t.name} value={name} onChange={setName} autoComplete="name" />
          <Check label={t.terms} checked={terms} onChange={setTerms} />
          <Check
            label={t.marketingEmail}
            checked={marketing.email}
            onChange={(email) => setMarketing({ ...marketing, email })}
          />
          <Check
            label={t.marketingSms}
            checked={marketing.sms}
            onChange={(sms) => setMarketing({ ...marketing, sms })}
          />
          <Check
            label={t.marketingWhatsapp}
            checked={marketing.whatsapp}
            onChange={(whatsapp) => setMarketing({ ...marketing, whatsapp })}
          />
        </>
      )}
      <ErrorNote error={error} />
      <div className="row">
        <button type="submit" disabled={busy || (enrol && !terms)}>
          {t.sendCode}
        </button>
        <button type="button" className="secondary" onClick={() => setEnrol(!enrol)}>
          {enrol ? t.haveAccount : t.enrol}
        </button>
      </div>
    </form>
  );
}

function Portal(props: {
  t: Text;
  locale: Locale;
  base: string;
  member: Member;
  brandName: string;
  onSignOut: () => void;
}) {
  const { t } = props;
  const [tab, setTab] = useState<Tab>("card");
  const tabs: { id: Tab; label: string }[] = [
    { id: "card", label: t.card },
    { id: "history", label: t.history },
    { id: "rewards", label: t.rewards },
    { id: "profile", label: t.profile },
  ];
  const current = tabs.find((item) => item.id === tab)?.label ?? t.card;
  usePageTitle(current, props.brandName);
  return (
    <>
      <h1 className="visually-hidden">{current}</h1>
      {tab === "card" && <CardTab {...props} />}
      {tab === "history" && <HistoryTab {...props} />}
      {tab === "rewards" && <RewardsTab {...props} />}
      {tab === "profile" && <ProfileTab {...props} />}
      <nav className="tabs" aria-label={t.menu}>
        {tabs.map((item) => (
          <button
            key={item.id}
            type="button"
            aria-current={tab === item.id ? "page" : undefined}
            onClick={() => setTab(item.id)}
          >
            {item.label}
          </button>
        ))}
      </nav>
    </>
  );
}

function CardTab({ t, locale, base }: { t: Text; locale: Locale; base: string }) {
  const card = useLoad(() => api.get<PortalCard>(`${base}/me/card`), [base]);
  const balance = useLoad(() => api.get<PortalBalance>(`${base}/me/balance`), [base]);
  const tier = useLoad(() => api.get<TierView | null>(`${base}/me/tier`), [base]);
  const tierName = (value: { code: string; names: Partial<Record<Locale, string>> }) =>
    value.names[locale] ?? value.names.id ?? value.code;
  const next = tier.data?.nextTier;
  const percent =
    next && next.threshold > 0
      ? Math.round((100 * (tier.data?.metricValue ?? 0)) / next.threshold)
      : null;
  return (
    <>
      {!navigator.onLine && <p role="status">{t.offline}</p>}
      <section className="member-card" aria-label={t.card}>
        {card.data && (
          <>
            <img
              className="qr"
              src={card.data.qrDataUrl}
              alt={`${t.cardNumber} ${card.data.cardNumber}`}
            />
            <p>{t.showAtTill}</p>
            <p>
              {t.cardNumber}:{" "}
              <code className="big" data-testid="card-number">
                {card.data.cardNumber}
              </code>
            </p>
          </>
        )}
      </section>
      <Card title={t.available}>
        {balance.data && (
          <>
            <p className="big-points" data-testid="points-available">
              {formatNumber(balance.data.available, locale)}
            </p>
            <p>
              {t.pending}:{" "}
              <span data-testid="points-pending">{formatNumber(balance.data.pending, locale)}</span>
            </p>
          </>
        )}
        {balance.data && balance.data.expiringSoon.points > 0 && (
          <p className="error">
            {fill(t.expiringSoon, {
              points: formatNumber(balance.data.expiringSoon.points, locale),
              date: formatDate(balance.data.expiringSoon.before, locale),
            })}
          </p>
        )}
        <ErrorNote error={balance.error ?? card.error} />
      </Card>
      <Card title={t.tier}>
        <p>{tier.data?.tier ? tierName(tier.data.tier) : t.noTier}</p>
        {next && (
          <>
            <p>{fill(t.nextTier, { tier: tierName(next.tier) })}</p>
            {percent !== null && (
              <div
                className="progress"
                role="progressbar"
                aria-label={t.tier}
                aria-valuenow={percent}
                aria-valuemin={0}
                aria-valuemax={100}
              >
                <div style={{ width: `${Math.min(100, percent)}%` }} />
              </div>
            )}
          </>
        )}
      </Card>
    </>
  );
}

function HistoryTab({ t, locale, base }: { t: Text; locale: Locale; base: string }) {
  const history = useLoad(() => api.get<Page<Entry>>(`${base}/me/history?limit=50`), [base]);
  return (
    <Card title={t.history}>
      <ErrorNote error={history.error} />
      {history.data?.data.length === 0 && <p>{t.none}</p>}
      <ul className="plain">
        {history.data?.data.map((entry) => {
          const points = entry.points.available + entry.points.pending;
          return (
            <li key={entry.id}>
              <span>
                {entry.reason ?? entry.kind}
                <br />
                <small className="muted">{formatDate(entry.createdAt, locale, true)}</small>
              </span>
              <strong>
                {points > 0 ? "+" : ""}
                {formatNumber(points, locale)}
              </strong>
            </li>
          );
        })}
      </ul>
    </Card>
  );
}

function RewardsTab({ t, locale, base }: { t: Text; locale: Locale; base: string }) {
  const options = useLoad(() => api.get<{ data: RewardOption[] }>(`${base}/me/rewards`), [base]);
  const vouchers = useLoad(() => api.get<{ data: PortalVoucher[] }>(`${base}/me/vouchers`), [base]);
  const [run, busy, error] = useAction();
  const [ask, confirmDialog] = useConfirm({ yes: t.redeem, no: t.cancel });
  return (
    <>
      {confirmDialog}
      <Card title={t.rewards}>
        {options.data?.data.length === 0 && <p>{t.none}</p>}
        <ul className="plain">
          {options.data?.data.map((option) => {
            const texts =
              option.reward.texts[locale] ?? option.reward.texts.id ?? option.reward.texts.en;
            return (
              <li key={option.reward.id}>
                <span>
                  <strong>{texts?.name}</strong>
                  <br />
                  {formatNumber(option.pointsCost, locale)} {t.points}
                  {!option.affordable && (
                    <>
                      <br />
                      <small className="muted">
                        {fill(t.pointsMissing, {
                          points: formatNumber(option.pointsMissing, locale),
                        })}
                      </small>
                    </>
                  )}
                </span>
                <button
                  type="button"
                  disabled={busy || !option.affordable || option.eligible === false}
                  aria-label={`${t.redeem}: ${texts?.name ?? ""}`}
                  onClick={async () => {
                    if (!(await ask(fill(t.redeemConfirm, { points: option.pointsCost })))) return;
                    await run(async () => {
                      await api.post(
                        `${base}/me/rewards/${option.reward.id}/redeem`,
                        {},
                        newIdempotencyKey(),
                      );
                      vouchers.reload();
                      options.reload();
                    });
                  }}
                >
                  {t.redeem}
                </button>
              </li>
            );
          })}
        </ul>
        <ErrorNote error={error ?? options.error} />
      </Card>
      <Card title={t.myVouchers}>
        {vouchers.data?.data.length === 0 && <p>{t.none}</p>}
        {vouchers.data?.data.map((voucher) => (
          <div className="voucher" key={voucher.id}>
            {voucher.qrDataUrl && (
              <img src={voucher.qrDataUrl} alt={`${t.voucherCode} ${voucher.code}`} />
            )}
            <p>
              {t.voucherCode}:{" "}
              <code className="big" data-testid="voucher-code">
                {voucher.code}
              </code>{" "}
              ({voucher.state})
            </p>
            {voucher.validUntil && (
              <p>{fill(t.validUntil, { date: formatDate(voucher.validUntil, locale) })}</p>
            )}
          </div>
        ))}
      </Card>
    </>
  );
}

function ProfileTab(props: { t: Text; base: string; member: Member; onSignOut: () => void }) {
  const { t, base, member } = props;
  const referral = useLoad(
    () => api.get<{ code: string; shareUrl: string | null }>(`${base}/me/referral`),
    [base],
  );
  const granted = (channel: string) => member.consents.marketing[channel]?.granted ?? false;
  const [name, setName] = useState(member.name ?? "");
  const [marketing, setMarketing] = useState({
    email: granted("email"),
    sms: granted("sms"),
    whatsapp: granted("whatsapp"),
  });
  const [saved, setSaved] = useState(false);
  const [shared, setShared] = useState(false);
  const [run, busy, error] = useAction();
  const shareUrl =
    referral.data?.shareUrl ??
    (referral.data ? `${location.origin}/app/?ref=${referral.data.code}` : "");
  return (
    <>
      <Card title={t.referral}>
        {referral.data && (
          <>
            <p>
              <code className="big">{referral.data.code}</code>
            </p>
            <button
              type="button"
              onClick={async () => {
                if (navigator.share)
                  await navigator.share({ url: shareUrl }).catch(() => undefined);
                else {
                  await navigator.clipboard.writeText(shareUrl);
                  setShared(true);
                }
              }}
            >
              {t.share}
            </button>
            {shared && <p role="status">{t.copied}</p>}
          </>
        )}
      </Card>
      <Card title={t.profile}>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            setSaved(false);
            run(async () => {
              await api.patch(`${base}/me`, { ...(name && { name }), marketing });
              setSaved(true);
            });
          }}
        >
          <Field label={t.name} value={name} onChange={setName} autoComplete="name" />
          <fieldset>
            <legend>{t.consents}</legend>
            <Check
              label={t.marketingEmail}
              checked={marketing.email}
              onChange={(email) => setMarketing({ ...marketing, email })}
            />
            <Check
              label={t.marketingSms}
              checked={marketing.sms}
              onChange={(sms) => setMarketing({ ...marketing, sms })}
            />
            <Check
              label={t.marketingWhatsapp}
              checked={marketing.whatsapp}
              onChange={(whatsapp) => setMarketing({ ...marketing, whatsapp })}
            />
          </fieldset>
          <button type="submit" disabled={busy}>
            {t.save}
          </button>
          {saved && (
            <p className="ok" role="status">
              {t.saved}
            </p>
          )}
          <ErrorNote error={error} />
        </form>
      </Card>
      <div className="row">
        <a className="button" href={`${base}/me/export`} download="setia-data.json">
          {t.download}
        </a>
        <button
          type="button"
          className="secondary"
          onClick={async () => {
            await api.post(`${base}/me/sign-out`).catch((caught: unknown) => {
              if (!(caught instanceof ApiError)) throw caught;
            });
            // The cached card and balance belong to this member only.
            if ("caches" in window) await caches.delete("setia-card");
            props.onSignOut();
          }}
        >
          {t.signOut}
        </button>
      </div>
    </>
  );
}

document.documentElement.lang = initialLocale();
const root = document.getElementById("root");
if (root)
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
