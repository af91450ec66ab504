import "../shared/base.css";
import "./pos.css";
import { StrictMode, useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import {
  Api,
  ApiError,
  type Member,
  newIdempotencyKey,
  type Page,
  type Program,
  query,
} from "../shared/api.ts";
import {
  fill,
  formatMoney,
  formatNumber,
  initialLocale,
  type Locale,
  storeLocale,
  toDecimal,
  toMinor,
} from "../shared/i18n.ts";
import { EnrolTotp, StaffSignIn } from "../shared/staff-sign-in.tsx";
import {
  applyBranding,
  type Branding,
  Card,
  Check,
  ErrorNote,
  Field,
  LocaleSwitch,
  Select,
  useAction,
  useLoad,
  usePageTitle,
} from "../shared/ui.tsx";
import { type Text, text } from "./i18n.ts";

interface Staff {
  totpEnabled: boolean;
  memberships: { programId: string | null; role: string; storeIds: string[] }[];
}
interface Till {
  api: Api;
  programs: Program[];
  storeIds: string[] | null;
}
interface Line {
  sku: string;
  quantity: string;
  unitPrice: string;
}

const keyStorage = "setia.pos.key";
const storeStorage = "setia.pos.store";
const sessionApi = () => new Api({ kind: "session", csrfCookie: "setia_staff_csrf" });
const newReceipt = () =>
  `POS-${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}-${Math.random().toString(36).slice(2, 6)}`;

async function openTill(api: Api, staff: Staff | null): Promise<Till> {
  if (!staff || staff.memberships.some((m) => m.programId === null)) {
    const answer = await api.get<Page<Program> | Program[]>("/v1/programs");
    return { api, programs: Array.isArray(answer) ? answer : answer.data, storeIds: null };
  }
  const ids = [...new Set(staff.memberships.flatMap((m) => (m.programId ? [m.programId] : [])))];
  const storeIds = staff.memberships.flatMap((m) => m.storeIds);
  // A cashier reads its programs (currency, locale) like any till.
  const programs = await Promise.all(ids.map((id) => api.get<Program>(`/v1/programs/${id}`)));
  return { api, programs, storeIds: storeIds.length ? storeIds : null };
}

function App() {
  const [locale, setLocale] = useState<Locale>(initialLocale());
  const [till, setTill] = useState<Till | null | undefined>(undefined);
  const [enrolling, setEnrolling] = useState<Staff | null>(null);
  const t = text[locale];
  // The till names its program (Register); before it, the stage names the page.
  usePageTitle(till ? null : enrolling ? t.totpSetup : t.signIn, t.appName);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the session is checked once on load
  useEffect(() => {
    const key = sessionStorage.getItem(keyStorage);
    const api = key ? new Api({ kind: "key", key }) : sessionApi();
    const staff = key
      ? Promise.resolve(null)
      : api.get<{ staff: Staff }>("/v1/staff/me").then((me) => me.staff);
    staff.then((s) => signedIn(api, s)).catch(() => setTill(null));
  }, []);
  async function signedIn(api: Api, staff: Staff | null) {
    if (staff && !staff.totpEnabled) return setEnrolling(staff);
    setTill(await openTill(api, staff));
  }
  const signOut = async () => {
    if (!sessionStorage.getItem(keyStorage))
      await sessionApi()
        .post("/v1/staff/sign-out")
        .catch(() => undefined);
    sessionStorage.removeItem(keyStorage);
    setTill(null);
  };
  return (
    <>
      <header className="top">
        <a className="skip" href="#main">
          {t.skip}
        </a>
        <strong id="brand">{t.appName}</strong>
        <div className="row">
          <LocaleSwitch
            label={t.language}
            locale={locale}
            onChange={(next) => {
              storeLocale(next);
              setLocale(next);
            }}
          />
          {till && (
            <button type="button" className="secondary" onClick={signOut}>
              {t.signOut}
            </button>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {enrolling && (
          <div className="narrow">
            <EnrolTotp
              t={t}
              api={sessionApi()}
              onDone={() => {
                const staff = { ...enrolling, totpEnabled: true };
                setEnrolling(null);
                signedIn(sessionApi(), staff).catch(() => setTill(null));
              }}
            />
          </div>
        )}
        {till === null && !enrolling && (
          <div className="narrow">
            <StaffSignIn<Staff>
              t={t}
              api={sessionApi()}
              onStaff={(staff) => signedIn(sessionApi(), staff)}
              onKey={async (key) => {
                const api = new Api({ kind: "key", key });
                const opened = await openTill(api, null);
                sessionStorage.setItem(keyStorage, key);
                setTill(opened);
              }}
            />
          </div>
        )}
        {till && <Register till={till} t={t} locale={locale} />}
      </main>
    </>
  );
}

function Register({ till, t, locale }: { till: Till; t: Text; locale: Locale }) {
  const { api } = till;
  const [programId, setProgramId] = useState(till.programs[0]?.id ?? "");
  const program = till.programs.find((p) => p.id === programId);
  const [storeId, setStoreId] = useState(
    till.storeIds?.[0] ?? localStorage.getItem(storeStorage) ?? "store-1",
  );
  const [member, setMember] = useState<Member | null>(null);
  const branding = useLoad(
    () => api.get<Branding>(`/v1/portal/${programId}/branding`),
    [programId],
  );
  useEffect(() => {
    if (branding.data) applyBranding(branding.data);
  }, [branding.data]);
  usePageTitle(program?.name ?? t.none, t.appName);
  if (!program) return <p>{t.none}</p>;
  const base = `/v1/programs/${programId}`;
  // Lookup is the till's way to read a member (pos area): a cashier may not open member pages.
  const refreshMember = async () => {
    if (member)
      setMember(await api.get<Member>(`${base}/members/lookup?card=${member.cardNumber}`));
  };
  return (
    <>
      <h1 className="visually-hidden">{program.name}</h1>
      <div className="row">
        {till.programs.length > 1 && (
          <Select
            label={t.program}
            value={programId}
            options={till.programs.map((p) => ({ value: p.id, label: p.name }))}
            onChange={setProgramId}
          />
        )}
        <StoreChoice
          api={api}
          base={base}
          cashier={till.storeIds !== null}
          t={t}
          value={storeId}
          onChange={(value) => {
            localStorage.setItem(storeStorage, value);
            setStoreId(value);
          }}
        />
      </div>
      <div className="columns">
        <div>
          <MemberPanel
            api={api}
            base={base}
            storeId={storeId}
            t={t}
            locale={locale}
            member={member}
            onMember={setMember}
          />
          {member && (
            <Redeem
              api={api}
              base={base}
              member={member}
              t={t}
              locale={locale}
              onChange={refreshMember}
            />
          )}
        </div>
        <div>
          <Sale
            api={api}
            base={base}
            program={program}
            storeId={storeId}
            member={member}
            t={t}
            locale={locale}
            onRecorded={refreshMember}
          />
          <Refund api={api} base={base} storeId={storeId} t={t} />
        </div>
      </div>
    </>
  );
}

interface Store {
  code: string;
  name: string;
  city: string | null;
}

/**
 * The till's store, by name: the open stores the session may use (a cashier's own). A key
 * session in a program without registered stores types the store code, as before the registry.
 */
function StoreChoice(props: {
  api: Api;
  base: string;
  cashier: boolean;
  t: Text;
  value: string;
  onChange: (storeId: string) => void;
}) {
  const { t, value, onChange } = props;
  const stores = useLoad(
    () => props.api.get<Page<Store>>(`${props.base}/stores?status=active&figures=false&limit=200`),
    [props.base],
  );
  const open = stores.data?.data ?? [];
  useEffect(() => {
    const first = open[0];
    if (first && !open.some((store) => store.code === value)) onChange(first.code);
  }, [open, value, onChange]);
  const only = open.length === 1 ? open[0] : undefined;
  if (only)
    return (
      <p className="figure">
        {t.store}: <strong data-testid="store-name">{only.name}</strong> ({only.code})
      </p>
    );
  if (open.length > 1)
    return (
      <Select
        label={t.store}
        value={value}
        options={open.map((store) => ({
          value: store.code,
          label: store.city ? `${store.name} · ${store.city}` : store.name,
        }))}
        onChange={onChange}
      />
    );
  if (!stores.data) return <ErrorNote error={stores.error} />;
  if (props.cashier)
    return (
      <p className="error" role="alert">
        {t.noOpenStore}
      </p>
    );
  return <Field label={t.store} value={value} onChange={onChange} />;
}

interface Detector {
  detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]>;
}

/** Reads a QR code with the camera where the browser has BarcodeDetector; typing always works. */
function Scanner({ t, onCode }: { t: Text; onCode: (code: string) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const Constructor = (window as unknown as { BarcodeDetector?: new (o: object) => Detector })
      .BarcodeDetector;
    if (!Constructor) return;
    const detector = new Constructor({ formats: ["qr_code"] });
    let stream: MediaStream | null = null;
    let timer = 0;
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "environment" } })
      .then(async (media) => {
        stream = media;
        if (!video.current) return;
        video.current.srcObject = media;
        await video.current.play();
        const tick = async () => {
          const found = video.current ? await detector.detect(video.current).catch(() => []) : [];
          if (found[0]) onCode(found[0].rawValue);
          else timer = window.setTimeout(tick, 250);
        };
        tick();
      })
      .catch(() => undefined);
    return () => {
      clearTimeout(timer);
      for (const track of stream?.getTracks() ?? []) track.stop();
    };
  }, [onCode]);
  return (
    <div>
      <p role="status">{t.scanning}</p>
      <video ref={video} muted playsInline />
    </div>
  );
}

const canScan = () => "BarcodeDetector" in window && !!navigator.mediaDevices;

function MemberPanel(props: {
  api: Api;
  base: string;
  storeId: string;
  t: Text;
  locale: Locale;
  member: Member | null;
  onMember: (member: Member | null) => void;
}) {
  const { api, base, t, locale, member } = props;
  const [search, setSearch] = useState("");
  const [scanning, setScanning] = useState(false);
  const [notFound, setNotFound] = useState(false);
  const [phone, setPhone] = useState("");
  const [consent, setConsent] = useState(false);
  const [enrolled, setEnrolled] = useState("");
  const [run, busy, error] = useAction();
  const find = (value: string) =>
    run(async () => {
      setNotFound(false);
      const trimmed = value.trim();
      // Card numbers are digits without the leading 0 or + of a phone number.
      const by = /^(\+|0)/.test(trimmed) ? { phone: trimmed } : { card: trimmed };
      try {
        props.onMember(await api.get<Member>(`${base}/members/lookup${query(by)}`));
      } catch (caught) {
        if (caught instanceof ApiError && caught.code === "member_not_found") {
          setNotFound(true);
          if (by.phone) setPhone(by.phone);
        } else throw caught;
      }
    });
  if (member)
    return (
      <Card title={t.member}>
        <p>
          <strong>{member.name ?? member.phone ?? member.cardNumber}</strong> · {member.cardNumber}
        </p>
        <p>
          {t.available}:{" "}
          <strong data-testid="member-available">
            {formatNumber(member.balance?.available ?? 0, locale)}
          </strong>{" "}
          · {t.pending}:{" "}
          <span data-testid="member-pending">
            {formatNumber(member.balance?.pending ?? 0, locale)}
          </span>
        </p>
        {enrolled && (
          <p className="ok" role="status">
            {enrolled}
          </p>
        )}
        <button
          type="button"
          className="secondary"
          onClick={() => {
            setEnrolled("");
            props.onMember(null);
          }}
        >
          {t.clearMember}
        </button>
      </Card>
    );
  return (
    <>
      <Card title={t.member}>
        <form
          className="row"
          onSubmit={(event) => {
            event.preventDefault();
            find(search);
          }}
        >
          <Field
            label={t.phoneOrCard}
            value={search}
            onChange={setSearch}
            inputMode="tel"
            required
          />
          <button type="submit" disabled={busy}>
            {t.find}
          </button>
          {canScan() && (
            <button type="button" className="secondary" onClick={() => setScanning(!scanning)}>
              {scanning ? t.stopScan : t.scan}
            </button>
          )}
        </form>
        {scanning && (
          <Scanner
            t={t}
            onCode={(code) => {
              setScanning(false);
              setSearch(code);
              find(code);
            }}
          />
        )}
        {notFound && <p role="status">{t.notFound}</p>}
        <ErrorNote error={error} />
      </Card>
      <Card title={t.enrol}>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            run(async () => {
              const created = await api.post<Member>(
                `${base}/members`,
                { phone, consents: { terms: consent }, channel: "pos", storeId: props.storeId },
                newIdempotencyKey(),
              );
              setEnrolled(fill(t.enrolled, { card: created.cardNumber }));
              props.onMember(
                await api.get<Member>(`${base}/members/lookup?card=${created.cardNumber}`),
              );
            });
          }}
        >
          <Field
            label={t.phone}
            value={phone}
            onChange={setPhone}
            type="tel"
            inputMode="tel"
            required
          />
          <Check label={t.consent} checked={consent} onChange={setConsent} />
          <button type="submit" disabled={busy || !consent}>
            {t.enrol}
          </button>
        </form>
      </Card>
    </>
  );
}

interface Preview {
  pointsEarned: number;
  breakdown: { source: string; points: number }[];
}
interface Validation {
  valid: boolean;
  reason: string | null;
  discount: string | null;
}

function Sale(props: {
  api: Api;
  base: string;
  program: Program;
  storeId: string;
  member: Member | null;
  t: Text;
  locale: Locale;
  onRecorded: () => Promise<void>;
}) {
  const { api, base, program, t, locale, member } = props;
  const currency = program.currency;
  const [lines, setLines] = useState<Line[]>([{ sku: "", quantity: "1", unitPrice: "" }]);
  const [pasted, setPasted] = useState("");
  const [receipt, setReceipt] = useState(newReceipt);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [voucherCode, setVoucherCode] = useState("");
  const [validation, setValidation] = useState<Validation | null>(null);
  const [message, setMessage] = useState("");
  const [idempotencyKey, setIdempotencyKey] = useState(newIdempotencyKey);
  const [run, busy, error] = useAction();
  const filled = lines.filter((line) => line.sku && line.unitPrice);
  const totalMinor = filled.reduce(
    (sum, line) => sum + Math.round(toMinor(line.unitPrice, currency) * Number(line.quantity || 0)),
    0,
  );
  const discountMinor =
    validation?.valid && validation.discount ? toMinor(validation.discount, currency) : 0;
  const apiLines = filled.map((line) => ({
    sku: line.sku,
    quantity: Number(line.quantity),
    unitPrice: toDecimal(toMinor(line.unitPrice, currency), currency),
  }));
  const purchase = () => ({
    externalId: receipt,
    storeId: props.storeId,
    channel: "pos",
    occurredAt: new Date().toISOString(),
    currency,
    total: toDecimal(Math.max(0, totalMinor - discountMinor), currency),
    ...(member && { member: { id: member.id } }),
    lines: apiLines,
  });
  const setLine = (index: number, change: Partial<Line>) => {
    setPreview(null);
    setLines(lines.map((line, i) => (i === index ? { ...line, ...change } : line)));
  };
  const reset = () => {
    setLines([{ sku: "", quantity: "1", unitPrice: "" }]);
    setReceipt(newReceipt());
    setIdempotencyKey(newIdempotencyKey());
    setPreview(null);
    setVoucherCode("");
    setValidation(null);
  };
  return (
    <Card title={t.basket}>
      <table className="lines">
        <thead>
          <tr>
            <th id="h-sku">{t.sku}</th>
            <th id="h-qty">{t.quantity}</th>
            <th id="h-price">{t.unitPrice}</th>
            <th>
              <span className="visually-hidden">{t.remove}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {lines.map((line, index) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: basket lines are positional
            <tr key={index}>
              <td>
                <input
                  aria-label={`${t.sku} ${index + 1}`}
                  value={line.sku}
                  onChange={(e) => setLine(index, { sku: e.target.value })}
                />
              </td>
              <td>
                <input
                  aria-label={`${t.quantity} ${index + 1}`}
                  inputMode="decimal"
                  value={line.quantity}
                  onChange={(e) => setLine(index, { quantity: e.target.value })}
                />
              </td>
              <td>
                <input
                  aria-label={`${t.unitPrice} ${index + 1}`}
                  inputMode="decimal"
                  value={line.unitPrice}
                  onChange={(e) => setLine(index, { unitPrice: e.target.value })}
                />
              </td>
              <td>
                <button
                  type="button"
                  className="secondary"
                  aria-label={`${t.remove} ${index + 1}`}
                  onClick={() => setLines(lines.filter((_, i) => i !== index))}
                >
                  ✕
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button
        type="button"
        className="secondary"
        onClick={() => setLines([...lines, { sku: "", quantity: "1", unitPrice: "" }])}
      >
        {t.addLine}
      </button>
      <div className="field">
        <label htmlFor="paste">{t.paste}</label>
        <textarea id="paste" value={pasted} onChange={(e) => setPasted(e.target.value)} />
      </div>
      <button
        type="button"
        className="secondary"
        onClick={() => {
          const added = pasted
            .split("\n")
            .map((row) => row.split(/[;\t,]/).map((cell) => cell.trim()))
            .filter((cells) => cells[0])
            .map(([sku = "", quantity = "1", unitPrice = ""]) => ({ sku, quantity, unitPrice }));
          setLines([...filled, ...added]);
          setPasted("");
        }}
      >
        {t.addPasted}
      </button>
      <p className="figure">
        {t.total}:{" "}
        <span data-testid="total">
          {formatMoney(toDecimal(totalMinor - discountMinor, currency), currency, locale)}
        </span>
      </p>
      <Field label={t.receipt} value={receipt} onChange={setReceipt} required />
      <div className="row">
        <Field
          label={t.voucher}
          value={voucherCode}
          onChange={(value) => {
            setVoucherCode(value);
            setValidation(null);
          }}
        />
        <button
          type="button"
          className="secondary"
          disabled={busy || !voucherCode}
          onClick={() =>
            run(async () =>
              setValidation(
                await api.post<Validation>(`${base}/vouchers/validate`, {
                  code: voucherCode,
                  basket: { total: toDecimal(totalMinor, currency), lines: apiLines },
                }),
              ),
            )
          }
        >
          {t.validate}
        </button>
      </div>
      {validation && (
        <p role="status" className={validation.valid ? "ok" : "error"}>
          {validation.valid
            ? fill(t.voucherDiscount, {
                discount: formatMoney(validation.discount ?? "0", currency, locale),
              })
            : fill(t.voucherInvalid, { reason: validation.reason ?? "" })}
        </p>
      )}
      <div className="row">
        <button
          type="button"
          className="secondary"
          disabled={busy || filled.length === 0}
          onClick={() =>
            run(async () =>
              setPreview(await api.post<Preview>(`${base}/transactions/preview`, purchase())),
            )
          }
        >
          {t.preview}
        </button>
        <button
          type="button"
          disabled={busy || filled.length === 0}
          onClick={() =>
            run(async () => {
              const result = await api.post<{ pointsEarned: number; pointsState: string }>(
                `${base}/transactions`,
                purchase(),
                idempotencyKey,
              );
              if (validation?.valid)
                await api.post(
                  `${base}/vouchers/${encodeURIComponent(voucherCode)}/consume`,
                  { reference: receipt },
                  `${idempotencyKey}-voucher`,
                );
              setMessage(
                fill(t.recorded, { points: result.pointsEarned, state: result.pointsState }),
              );
              reset();
              await props.onRecorded();
            })
          }
        >
          {t.submit}
        </button>
      </div>
      {preview && (
        <p role="status" data-testid="preview">
          {fill(t.previewPoints, { points: formatNumber(preview.pointsEarned, locale) })}
        </p>
      )}
      {message && (
        <p className="ok" role="status" data-testid="recorded">
          {message}
        </p>
      )}
      <ErrorNote error={error} />
    </Card>
  );
}

interface RewardOption {
  reward: { id: string; texts: Record<string, { name: string } | undefined> };
  pointsCost: number;
  eligible: boolean;
  affordable: boolean;
}

function Redeem(props: {
  api: Api;
  base: string;
  member: Member;
  t: Text;
  locale: Locale;
  onChange: () => Promise<void>;
}) {
  const { api, base, member, t, locale } = props;
  const options = useLoad(
    () => api.get<{ data: RewardOption[] }>(`${base}/members/${member.id}/rewards`),
    [member.id, member.balance?.available],
  );
  const [points, setPoints] = useState("");
  const [hold, setHold] = useState<{ id: string; points: number } | null>(null);
  const [message, setMessage] = useState("");
  const [run, busy, error] = useAction();
  return (
    <Card title={t.rewards}>
      <ul>
        {options.data?.data
          .filter((option) => option.eligible && option.affordable)
          .map((option) => (
            <li key={option.reward.id} className="row">
              <span>
                {option.reward.texts[locale]?.name ?? option.reward.texts.id?.name} ·{" "}
                {formatNumber(option.pointsCost, locale)} {t.points}
              </span>
              <button
                type="button"
                disabled={busy}
                onClick={() =>
                  run(async () => {
                    const { voucher } = await api.post<{ voucher: { code: string } }>(
                      `${base}/rewards/${option.reward.id}/redemptions`,
                      { memberId: member.id, mode: "direct" },
                      newIdempotencyKey(),
                    );
                    setMessage(fill(t.redeemed, { code: voucher.code }));
                    await props.onChange();
                  })
                }
              >
                {t.redeem}
              </button>
            </li>
          ))}
      </ul>
      {/* Points as a discount are held while the customer pays, then confirmed or released. */}
      {hold ? (
        <div className="row">
          <p role="status">{fill(t.pointsHeld, { points: formatNumber(hold.points, locale) })}</p>
          <button
            type="button"
            disabled={busy}
            onClick={() =>
              run(async () => {
                await api.post(`${base}/holds/${hold.id}/confirm`, {}, `${hold.id}-confirm`);
                setMessage(fill(t.pointsRedeemed, { points: hold.points }));
                setHold(null);
                await props.onChange();
              })
            }
          >
            {t.confirmHold}
          </button>
          <button
            type="button"
            className="secondary"
            disabled={busy}
            onClick={() =>
              run(async () => {
                await api.post(`${base}/holds/${hold.id}/cancel`, {}, `${hold.id}-cancel`);
                setHold(null);
                await props.onChange();
              })
            }
          >
            {t.cancelHold}
          </button>
        </div>
      ) : (
        <form
          className="row"
          onSubmit={(event) => {
            event.preventDefault();
            run(async () => {
              setMessage("");
              setHold(
                await api.post<{ id: string; points: number }>(
                  `${base}/members/${member.id}/holds`,
                  { points: Number(points), reference: "pos" },
                  newIdempotencyKey(),
                ),
              );
              setPoints("");
              await props.onChange();
            });
          }}
        >
          <Field
            label={`${t.pointsDiscount} (${t.points})`}
            type="number"
            value={points}
            onChange={setPoints}
            required
          />
          <button type="submit" disabled={busy}>
            {t.redeemPoints}
          </button>
        </form>
      )}
      {message && (
        <p className="ok" role="status">
          {message}
        </p>
      )}
      {/* Roles that may not list reward options still redeem points. */}
      <ErrorNote
        error={
          error ??
          (options.error instanceof ApiError && options.error.code === "forbidden"
            ? null
            : options.error)
        }
      />
    </Card>
  );
}

function Refund(props: { api: Api; base: string; storeId: string; t: Text }) {
  const { api, base, t } = props;
  const [receipt, setReceipt] = useState("");
  const [refundNumber, setRefundNumber] = useState(newReceipt);
  const [amount, setAmount] = useState("");
  const [message, setMessage] = useState("");
  const [run, busy, error] = useAction();
  return (
    <Card title={t.refund}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          run(async () => {
            const result = await api.post<{ pointsReversed: number }>(
              `${base}/refunds`,
              {
                externalId: refundNumber,
                // A cashier names its store on a refund (the server refuses it otherwise).
                storeId: props.storeId,
                transaction: { storeId: props.storeId, externalId: receipt },
                amount,
              },
              `refund-${refundNumber}`,
            );
            setMessage(fill(t.refundDone, { points: result.pointsReversed }));
            setRefundNumber(newReceipt());
          });
        }}
      >
        <Field label={t.refundReceipt} value={receipt} onChange={setReceipt} required />
        <Field label={t.refundNumber} value={refundNumber} onChange={setRefundNumber} required />
        <Field label={t.amount} value={amount} onChange={setAmount} inputMode="decimal" required />
        <button type="submit" disabled={busy}>
          {t.refund}
        </button>
      </form>
      {message && (
        <p className="ok" role="status">
          {message}
        </p>
      )}
      <ErrorNote error={error} />
    </Card>
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
