import { useId, useState } from "react";
import { ApiError, newIdempotencyKey, type Page, type Program } from "../../shared/api.ts";
import { fill, formatMoney, formatNumber, type Locale } from "../../shared/i18n.ts";
import { Card, Check, ErrorNote, Field, Select, useAction, useLoad } from "../../shared/ui.tsx";
import type { Text } from "../i18n.ts";
import {
  emptyArgs,
  errorAt,
  errorsUnder,
  fieldErrors,
  fromLocalInput,
  type JsonSchema,
  localInput,
  SchemaForm,
} from "../schema-form.tsx";
import { adminPath, type Role, useSession } from "../session.ts";

/** A reward type as GET /v1/reward-types describes it. */
interface RewardType {
  type: string;
  description: string;
  voucher: boolean;
  codePool: boolean;
  moneyFields: string[];
  benefitSchema: JsonSchema;
}
interface LocalizedText {
  name: string;
  description?: string;
  terms?: string;
}
type Period = "day" | "week" | "month" | "year";
export interface Reward {
  id: string;
  type: string;
  status: "active" | "archived";
  priority: number;
  benefit: Record<string, unknown>;
  pointsCost: number;
  tierCosts: { tierCode: string; points: number }[];
  cash: string;
  stock: number | null;
  limits: { perMember: number | null; perPeriod: { count: number; period: Period } | null };
  eligibility: { tierCodes: string[]; tags: string[] };
  availableFrom: string | null;
  availableUntil: string | null;
  voucherValidity: { days: number } | { until: string };
  imageUrls: string[];
  texts: Partial<Record<Locale, LocalizedText>>;
}
interface LadderTier {
  id: string;
  code: string;
  names: Record<Locale, string>;
}

/** Localized names of the known types and benefit fields; a new server type shows its code. */
const typeLabels: Record<string, keyof Text> = {
  discount_amount: "rewardTypeDiscountAmount",
  discount_percent: "rewardTypeDiscountPercent",
  free_product: "rewardTypeFreeProduct",
  webshop_voucher: "rewardTypeWebshopVoucher",
  gift_card: "rewardTypeGiftCard",
  partner_gift_card: "rewardTypePartnerGiftCard",
  experience: "rewardTypeExperience",
  cashback: "rewardTypeCashback",
  charity_donation: "rewardTypeCharityDonation",
  tier_upgrade: "rewardTypeTierUpgrade",
};
const fieldLabels: Record<string, keyof Text> = {
  amount: "amount",
  percent: "fieldPercent",
  cap: "fieldCap",
  sku: "fieldSku",
  partner: "fieldPartner",
  eventAt: "fieldEventAt",
  venue: "fieldVenue",
  charity: "fieldCharity",
  value: "fieldValue",
  tierId: "fieldTierId",
  days: "fieldDays",
};

export function typeLabel(t: Text, type: string): string {
  const key = typeLabels[type];
  return key ? t[key] : type;
}

export function rewardName(reward: Pick<Reward, "id" | "texts">, locale: Locale): string {
  return reward.texts[locale]?.name ?? reward.texts.id?.name ?? reward.texts.en?.name ?? reward.id;
}

/** Marketers and support staff edit the catalog too; the server decides (decision 0048). */
function canEdit(role: Role): boolean {
  return role === "owner" || role === "admin" || role === "marketer" || role === "support";
}

/** The ladder's tiers, or none when the program has no ladder yet. */
function loadLadderTiers(
  get: <T>(path: string) => Promise<T>,
  programId: string,
): Promise<LadderTier[]> {
  return get<{ tiers: LadderTier[] }>(`/v1/programs/${programId}/tier-ladder`).then(
    (ladder) => ladder.tiers,
    (error: unknown) => {
      if (error instanceof ApiError && error.code === "tier_ladder_not_found") return [];
      throw error;
    },
  );
}

/** The catalog: every reward with its type, cost, stock left and status. */
export function Rewards() {
  const { api, programId, t, locale, role, navigate } = useSession();
  const base = `/v1/programs/${programId}/rewards`;
  const [status, setStatus] = useState<"" | "active" | "archived">("");
  const [extra, setExtra] = useState<{ rows: Reward[]; cursor: string | null } | null>(null);
  const program = useLoad(() => api.get<Program>(`/v1/programs/${programId}`), [programId]);
  const first = useLoad(() => {
    setExtra(null);
    return api.get<Page<Reward>>(`${base}?limit=100${status ? `&status=${status}` : ""}`);
  }, [base, status]);
  const [run, busy, error] = useAction();
  const rows = [...(first.data?.data ?? []), ...(extra?.rows ?? [])];
  const cursor = extra ? extra.cursor : (first.data?.nextCursor ?? null);
  const currency = program.data?.currency;
  const cost = (reward: Reward) =>
    [
      `${formatNumber(reward.pointsCost, locale)} ${t.pointsUnit}`,
      currency && Number(reward.cash) > 0 ? `+ ${formatMoney(reward.cash, currency, locale)}` : "",
      ...reward.tierCosts.map(
        (tierCost) => `${tierCost.tierCode}: ${formatNumber(tierCost.points, locale)}`,
      ),
    ]
      .filter(Boolean)
      .join(" · ");
  return (
    <>
      <h1>{t.rewards}</h1>
      <div className="row">
        {canEdit(role) && (
          <button type="button" onClick={() => navigate(adminPath("rewards/new"))}>
            {t.newReward}
          </button>
        )}
        <Select
          label={t.status}
          value={status}
          options={[
            { value: "", label: t.all },
            { value: "active", label: t.statusActive },
            { value: "archived", label: t.statusArchived },
          ]}
          onChange={setStatus}
        />
      </div>
      <ErrorNote error={first.error ?? program.error} />
      <table>
        <thead>
          <tr>
            <th>{t.name}</th>
            <th>{t.type}</th>
            <th>{t.cost}</th>
            <th>{t.stockLeft}</th>
            <th>{t.status}</th>
            <th>
              <span className="visually-hidden">{t.actions}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((reward) => (
            <tr key={reward.id} data-testid="reward-row">
              <td>
                <a
                  href={adminPath(`rewards/${reward.id}`)}
                  onClick={(event) => {
                    event.preventDefault();
                    navigate(adminPath(`rewards/${reward.id}`));
                  }}
                >
                  {rewardName(reward, locale)}
                </a>
              </td>
              <td>{typeLabel(t, reward.type)}</td>
              <td>{cost(reward)}</td>
              <td>{reward.stock === null ? "∞" : formatNumber(reward.stock, locale)}</td>
              <td>{reward.status === "active" ? t.statusActive : t.statusArchived}</td>
              <td>
                {canEdit(role) && reward.status === "active" && (
                  <button
                    type="button"
                    className="secondary"
                    disabled={busy}
                    onClick={() =>
                      run(async () => {
                        await api.request("DELETE", `${base}/${reward.id}`, {
                          idempotencyKey: newIdempotencyKey(),
                        });
                        first.reload();
                      })
                    }
                  >
                    {`${t.archive}: ${rewardName(reward, locale)}`}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {cursor && (
        <button
          type="button"
          className="secondary"
          disabled={busy}
          onClick={() =>
            run(async () => {
              const next = await api.get<Page<Reward>>(
                `${base}?limit=100&cursor=${encodeURIComponent(cursor)}${status ? `&status=${status}` : ""}`,
              );
              setExtra({ rows: [...(extra?.rows ?? []), ...next.data], cursor: next.nextCursor });
            })
          }
        >
          {t.loadMore}
        </button>
      )}
      <ErrorNote error={error} />
    </>
  );
}

/** The editor's state: what the inputs show, turned into the API body on save. */
interface Draft {
  type: string;
  status: "active" | "archived";
  benefit: Record<string, unknown>;
  texts: Record<Locale, Required<LocalizedText>>;
  pointsCost: string;
  tierCosts: Record<string, string>;
  cash: string;
  stock: string;
  perMember: string;
  perPeriodCount: string;
  perPeriod: Period;
  tierCodes: string[];
  tags: string;
  availableFrom: string | null;
  availableUntil: string | null;
  validityKind: "days" | "until";
  validityDays: string;
  validityUntil: string | null;
  priority: string;
  imageUrls: string;
}

const noText = { name: "", description: "", terms: "" };

function emptyDraft(type: RewardType): Draft {
  return {
    type: type.type,
    status: "active",
    benefit: emptyArgs(type.benefitSchema),
    texts: { id: noText, en: noText },
    pointsCost: "100",
    tierCosts: {},
    cash: "",
    stock: "",
    perMember: "",
    perPeriodCount: "",
    perPeriod: "month",
    tierCodes: [],
    tags: "",
    availableFrom: null,
    availableUntil: null,
    validityKind: "days",
    validityDays: "30",
    validityUntil: null,
    priority: "0",
    imageUrls: "",
  };
}

function draftOf(reward: Reward): Draft {
  const text = (locale: Locale) => ({ ...noText, ...reward.texts[locale] });
  const validity = reward.voucherValidity;
  return {
    type: reward.type,
    status: reward.status,
    benefit: reward.benefit,
    texts: { id: text("id"), en: text("en") },
    pointsCost: String(reward.pointsCost),
    tierCosts: Object.fromEntries(reward.tierCosts.map((c) => [c.tierCode, String(c.points)])),
    cash: Number(reward.cash) > 0 ? reward.cash : "",
    stock: reward.stock === null ? "" : String(reward.stock),
    perMember: reward.limits.perMember === null ? "" : String(reward.limits.perMember),
    perPeriodCount: reward.limits.perPeriod ? String(reward.limits.perPeriod.count) : "",
    perPeriod: reward.limits.perPeriod?.period ?? "month",
    tierCodes: reward.eligibility.tierCodes,
    tags: reward.eligibility.tags.join(", "),
    availableFrom: reward.availableFrom,
    availableUntil: reward.availableUntil,
    validityKind: "until" in validity ? "until" : "days",
    validityDays: "days" in validity ? String(validity.days) : "30",
    validityUntil: "until" in validity ? validity.until : null,
    priority: String(reward.priority),
    imageUrls: reward.imageUrls.join("\n"),
  };
}

/** Tier codes with a cost of their own, in the order the body lists them (errors use indexes). */
function tierCostCodes(draft: Draft, tierCodes: string[]): string[] {
  return tierCodes.filter((code) => (draft.tierCosts[code] ?? "").trim() !== "");
}

const lines = (text: string, separator: string | RegExp) =>
  text
    .split(separator)
    .map((item) => item.trim())
    .filter(Boolean);

/** The create or update body. Numbers go as typed: the server's checks are the ones shown. */
function bodyOf(draft: Draft, type: RewardType, tierCodes: string[], isNew: boolean) {
  const number = (text: string) => (text.trim() === "" ? null : Number(text));
  const texts = Object.fromEntries(
    (["id", "en"] as const)
      .filter((locale) => Object.values(draft.texts[locale]).some((value) => value.trim()))
      .map((locale) => {
        const { name, description, terms } = draft.texts[locale];
        return [
          locale,
          { name, ...(description.trim() && { description }), ...(terms.trim() && { terms }) },
        ];
      }),
  );
  return {
    ...(isNew ? { type: draft.type } : { status: draft.status }),
    benefit: draft.benefit,
    texts,
    pointsCost: Number(draft.pointsCost),
    tierCosts: tierCostCodes(draft, tierCodes).map((tierCode) => ({
      tierCode,
      points: Number(draft.tierCosts[tierCode]),
    })),
    cash: draft.cash.trim() || "0",
    stock: number(draft.stock),
    limits: {
      perMember: number(draft.perMember),
      perPeriod:
        draft.perPeriodCount.trim() === ""
          ? null
          : { count: Number(draft.perPeriodCount), period: draft.perPeriod },
    },
    eligibility: { tierCodes: draft.tierCodes, tags: lines(draft.tags, ",") },
    availableFrom: draft.availableFrom,
    availableUntil: draft.availableUntil,
    ...(type.voucher && {
      voucherValidity:
        draft.validityKind === "days"
          ? { days: Number(draft.validityDays) }
          : { until: draft.validityUntil ?? "" },
    }),
    priority: Number(draft.priority || 0),
    imageUrls: lines(draft.imageUrls, /\r?\n/),
  };
}

/** Create (rewardId "new") or edit one reward: the benefit form comes from its type's schema. */
export function RewardEditor({ rewardId }: { rewardId: string }) {
  const { api, programId, t, locale, role, navigate } = useSession();
  const base = `/v1/programs/${programId}/rewards`;
  const isNew = rewardId === "new";
  const setup = useLoad(
    () =>
      Promise.all([
        api.get<{ types: RewardType[] }>("/v1/reward-types").then((body) => body.types),
        api.get<Program>(`/v1/programs/${programId}`),
        loadLadderTiers((path) => api.get(path), programId),
      ]),
    [programId],
  );
  const [draft, setDraft] = useState<Draft | null>(null);
  const [key, setKey] = useState(newIdempotencyKey);
  const [notice, setNotice] = useState<string | null>(null);
  const existing = useLoad(async () => {
    setDraft(null);
    if (isNew) return null;
    const reward = await api.get<Reward>(`${base}/${rewardId}`);
    setDraft(draftOf(reward));
    return reward;
  }, [rewardId]);
  const [run, busy, error] = useAction();
  if (!setup.data) return <ErrorNote error={setup.error} />;
  const [types, program, ladder] = setup.data;
  const [firstType] = types;
  const current = draft ?? (isNew && firstType ? emptyDraft(firstType) : null);
  const type = types.find((candidate) => candidate.type === current?.type);
  if (!current || !type) return <ErrorNote error={existing.error} />;
  const update = (change: Partial<Draft>) => {
    setDraft({ ...current, ...change });
    setKey(newIdempotencyKey());
    setNotice(null);
  };
  const errors = fieldErrors(error);
  // Tiers on the ladder, then codes the reward names that the ladder no longer has.
  const tierCodes = [
    ...new Set([
      ...ladder.map((tier) => tier.code),
      ...Object.keys(current.tierCosts),
      ...current.tierCodes,
    ]),
  ];
  const tierName = (code: string) =>
    ladder.find((tier) => tier.code === code)?.names[locale] ?? code;
  const costCodes = tierCostCodes(current, tierCodes);
  const tierCostError = (code: string) => {
    const index = costCodes.indexOf(code);
    return index < 0
      ? undefined
      : (errors[`tierCosts.${index}.points`] ?? errors[`tierCosts.${index}.tierCode`]);
  };
  const setText = (language: Locale, field: keyof LocalizedText, value: string) =>
    update({
      texts: { ...current.texts, [language]: { ...current.texts[language], [field]: value } },
    });
  const labels = Object.fromEntries(
    Object.entries(fieldLabels).map(([field, textKey]) => [field, t[textKey]]),
  );
  const save = () =>
    run(async () => {
      const body = bodyOf(current, type, tierCodes, isNew);
      const saved = await api.request<Reward>(
        isNew ? "POST" : "PATCH",
        isNew ? base : `${base}/${rewardId}`,
        { body, idempotencyKey: key },
      );
      setKey(newIdempotencyKey());
      setNotice(isNew ? t.created : t.saved);
      if (isNew) navigate(adminPath(`rewards/${saved.id}`));
      else setDraft(draftOf(saved));
    });
  const money = (amount: string) =>
    amount.trim() && Number.isFinite(Number(amount))
      ? formatMoney(amount, program.currency, locale)
      : undefined;
  return (
    <>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          save();
        }}
      >
        <h1>
          {isNew ? t.newReward : rewardName(existing.data ?? { id: rewardId, texts: {} }, locale)}
        </h1>
        <p>
          <a
            href={adminPath("rewards")}
            onClick={(event) => {
              event.preventDefault();
              navigate(adminPath("rewards"));
            }}
          >
            {t.backToList}
          </a>
        </p>
        <Card title={t.benefit}>
          {isNew ? (
            <Select
              label={t.type}
              value={current.type}
              hint={type.description}
              options={types.map((candidate) => ({
                value: candidate.type,
                label: typeLabel(t, candidate.type),
              }))}
              onChange={(code) => {
                const chosen = types.find((candidate) => candidate.type === code);
                if (chosen) update({ type: code, benefit: emptyArgs(chosen.benefitSchema) });
              }}
            />
          ) : (
            <p>
              {t.type}: <strong>{typeLabel(t, type.type)}</strong> — {type.description}
            </p>
          )}
          <SchemaForm
            legend={typeLabel(t, type.type)}
            schema={type.benefitSchema}
            value={current.benefit}
            onChange={(benefit) => update({ benefit })}
            labels={labels}
            money={{ fields: type.moneyFields, currency: program.currency, locale }}
            choices={
              ladder.length
                ? { tierId: ladder.map((tier) => ({ value: tier.id, label: tier.names[locale] })) }
                : undefined
            }
            errors={errorsUnder(errors, "benefit")}
          />
          {type.codePool && isNew && <p className="hint">{t.codesAfterSave}</p>}
        </Card>
        <Card title={t.textsTitle}>
          <div className="row">
            {(["id", "en"] as const).map((language) => (
              <fieldset key={language}>
                <legend>{language.toUpperCase()}</legend>
                <Field
                  label={language === "id" ? t.nameId : t.nameEn}
                  value={current.texts[language].name}
                  onChange={(value) => setText(language, "name", value)}
                  error={
                    errors[`texts.${language}.name`] ??
                    (language === "id" ? errors.texts : undefined)
                  }
                />
                <Field
                  label={language === "id" ? t.descriptionId : t.descriptionEn}
                  multiline
                  value={current.texts[language].description}
                  onChange={(value) => setText(language, "description", value)}
                  error={errors[`texts.${language}.description`]}
                />
                <Field
                  label={language === "id" ? t.termsId : t.termsEn}
                  multiline
                  value={current.texts[language].terms}
                  onChange={(value) => setText(language, "terms", value)}
                  error={errors[`texts.${language}.terms`]}
                />
              </fieldset>
            ))}
          </div>
          <Field
            label={t.imageUrls}
            multiline
            value={current.imageUrls}
            onChange={(imageUrls) => update({ imageUrls })}
            error={errorAt(errors, "imageUrls")}
          />
        </Card>
        <Card title={t.cost}>
          <div className="row">
            <Field
              label={t.pointsCost}
              type="number"
              value={current.pointsCost}
              onChange={(pointsCost) => update({ pointsCost })}
              error={errors.pointsCost}
            />
            <Field
              label={`${t.cash} (${program.currency})`}
              inputMode="decimal"
              value={current.cash}
              onChange={(cash) => update({ cash })}
              hint={[money(current.cash), t.cashHint].filter(Boolean).join(" · ")}
              error={errors.cash}
            />
            {tierCodes.map((code) => (
              <Field
                key={code}
                label={fill(t.tierCostFor, { tier: tierName(code) })}
                type="number"
                value={current.tierCosts[code] ?? ""}
                onChange={(value) => update({ tierCosts: { ...current.tierCosts, [code]: value } })}
                hint={t.tierCostHint}
                error={tierCostError(code)}
              />
            ))}
          </div>
          {errors.tierCosts && <p className="error">{errors.tierCosts}</p>}
        </Card>
        <Card title={t.availability}>
          <div className="row">
            {!isNew && (
              <Select
                label={t.status}
                value={current.status}
                options={[
                  { value: "active", label: t.statusActive },
                  { value: "archived", label: t.statusArchived },
                ]}
                onChange={(status) => update({ status })}
                error={errors.status}
              />
            )}
            <Field
              label={t.stock}
              type="number"
              value={current.stock}
              onChange={(stock) => update({ stock })}
              error={errors.stock}
            />
            <Field
              label={t.perMember}
              type="number"
              value={current.perMember}
              onChange={(perMember) => update({ perMember })}
              error={errors["limits.perMember"]}
            />
            <Field
              label={t.perPeriod}
              type="number"
              value={current.perPeriodCount}
              onChange={(perPeriodCount) => update({ perPeriodCount })}
              error={errors["limits.perPeriod.count"] ?? errors["limits.perPeriod"]}
            />
            <Select
              label={t.limitPeriod}
              value={current.perPeriod}
              options={[
                { value: "day", label: t.day },
                { value: "week", label: t.week },
                { value: "month", label: t.month },
                { value: "year", label: t.year },
              ]}
              onChange={(perPeriod) => update({ perPeriod })}
            />
            <Field
              label={t.availableFrom}
              type="datetime-local"
              value={localInput(current.availableFrom)}
              onChange={(value) => update({ availableFrom: fromLocalInput(value) })}
              error={errors.availableFrom}
            />
            <Field
              label={t.availableUntil}
              type="datetime-local"
              value={localInput(current.availableUntil)}
              onChange={(value) => update({ availableUntil: fromLocalInput(value) })}
              error={errors.availableUntil}
            />
            <Field
              label={t.priority}
              type="number"
              value={current.priority}
              onChange={(priority) => update({ priority })}
              error={errors.priority}
            />
          </div>
          {type.voucher && (
            <div className="row">
              <Select
                label={t.voucherValidity}
                value={current.validityKind}
                options={[
                  { value: "days", label: t.validityDays },
                  { value: "until", label: t.validityUntil },
                ]}
                onChange={(validityKind) => update({ validityKind })}
              />
              {current.validityKind === "days" ? (
                <Field
                  label={t.validityDays}
                  type="number"
                  value={current.validityDays}
                  onChange={(validityDays) => update({ validityDays })}
                  error={errors["voucherValidity.days"] ?? errors.voucherValidity}
                />
              ) : (
                <Field
                  label={t.validityUntil}
                  type="datetime-local"
                  value={localInput(current.validityUntil)}
                  onChange={(value) => update({ validityUntil: fromLocalInput(value) })}
                  error={errors["voucherValidity.until"] ?? errors.voucherValidity}
                />
              )}
            </div>
          )}
          <fieldset>
            <legend>{t.eligibility}</legend>
            {tierCodes.length > 0 ? (
              <fieldset>
                <legend>{t.eligibleTiers}</legend>
                {tierCodes.map((code) => (
                  <Check
                    key={code}
                    label={tierName(code)}
                    checked={current.tierCodes.includes(code)}
                    onChange={(checked) =>
                      update({
                        tierCodes: checked
                          ? [...current.tierCodes, code]
                          : current.tierCodes.filter((other) => other !== code),
                      })
                    }
                  />
                ))}
              </fieldset>
            ) : (
              <p className="hint">{t.noLadder}</p>
            )}
            <Field
              label={t.eligibleTags}
              value={current.tags}
              onChange={(tags) => update({ tags })}
              error={errorAt(errors, "eligibility")}
            />
          </fieldset>
        </Card>
        {canEdit(role) && (
          <button type="submit" disabled={busy}>
            {t.save}
          </button>
        )}
        {notice && (
          <p className="ok" role="status">
            {notice}
          </p>
        )}
        <ErrorNote error={error} />
      </form>
      {type.codePool && !isNew && canEdit(role) && <PartnerCodes rewardId={rewardId} />}
    </>
  );
}

const codesPerUploadMax = 10_000;

/** The partner code pool: counts, and codes pasted or read from a file, uploaded in chunks. */
function PartnerCodes({ rewardId }: { rewardId: string }) {
  const { api, programId, t } = useSession();
  const path = `/v1/programs/${programId}/rewards/${rewardId}/codes`;
  const counts = useLoad(() => api.get<{ available: number; assigned: number }>(path), [path]);
  const [codes, setCodes] = useState("");
  const [key, setKey] = useState(newIdempotencyKey);
  const [result, setResult] = useState<string | null>(null);
  const [run, busy, error] = useAction();
  const fileId = useId();
  const change = (next: string) => {
    setCodes(next);
    setKey(newIdempotencyKey());
    setResult(null);
  };
  const upload = () =>
    run(async () => {
      const all = [...new Set(lines(codes, /[\r\n,;]+/))];
      let added = 0;
      let duplicates = 0;
      let available = 0;
      // One key per chunk of this text: a retry replays the chunks already stored.
      for (let start = 0, chunk = 0; start < all.length; start += codesPerUploadMax, chunk++) {
        const answer = await api.request<{ added: number; duplicates: number; available: number }>(
          "POST",
          path,
          {
            body: { codes: all.slice(start, start + codesPerUploadMax) },
            idempotencyKey: `${key}-${chunk}`,
          },
        );
        added += answer.added;
        duplicates += answer.duplicates;
        available = answer.available;
      }
      setResult(fill(t.codesAdded, { added, duplicates, available }));
      setCodes("");
      setKey(newIdempotencyKey());
      counts.reload();
    });
  return (
    <Card title={t.partnerCodes}>
      {counts.data && <p data-testid="codes-count">{fill(t.codesCount, counts.data)}</p>}
      <Field
        label={t.codesPaste}
        multiline
        value={codes}
        onChange={change}
        error={errorAt(fieldErrors(error), "codes")}
      />
      <div className="field">
        <label htmlFor={fileId}>{t.codesFile}</label>
        <input
          id={fileId}
          type="file"
          accept=".txt,.csv,text/plain,text/csv"
          onChange={async (event) => {
            const file = event.target.files?.[0];
            if (file) change(`${codes}${codes ? "\n" : ""}${await file.text()}`);
          }}
        />
      </div>
      <button type="button" disabled={busy || codes.trim() === ""} onClick={upload}>
        {t.uploadCodes}
      </button>
      {result && (
        <p className="ok" role="status">
          {result}
        </p>
      )}
      <ErrorNote error={error ?? counts.error} />
    </Card>
  );
}
