import { useState } from "react";
import { newIdempotencyKey, type Page, type Program } from "../../shared/api.ts";
import { fill, formatDate, formatNumber, type Locale } from "../../shared/i18n.ts";
import { Card, Check, ErrorNote, Field, Select, useAction, useLoad } from "../../shared/ui.tsx";
import type { Text } from "../i18n.ts";
import { errorAt, type FieldErrors, fieldErrors } from "../schema-form.tsx";
import { adminPath, useSession } from "../session.ts";
import { type Reward, rewardName } from "./rewards.tsx";

type Metric = "points_earned" | "spend" | "visits";
type Window = { kind: "rolling_months"; months: number } | { kind: "calendar_year" };
interface Localized {
  id: string;
  en: string;
}
interface Tier {
  code: string;
  rank: number;
  names: Localized;
  threshold: number;
  benefits: { earnMultiplierPercent: number; perks: Localized[]; freeShipping: boolean };
}
/** A saved version, as GET …/tier-ladder/versions lists it. */
interface LadderVersion {
  version: number;
  createdAt: string;
  qualification: { metric: Metric; window: Window };
  gracePeriodDays: number;
  lowestTierAutomatic: boolean;
  tiers: Tier[];
}

/** The editor's state; thresholds as typed (spend in major units), ranks by position. */
interface TierDraft {
  code: string;
  names: Localized;
  threshold: string;
  multiplier: string;
  perks: Localized[];
  freeShipping: boolean;
}
interface Draft {
  metric: Metric;
  windowKind: Window["kind"];
  months: string;
  grace: string;
  lowestTierAutomatic: boolean;
  tiers: TierDraft[];
}

const newTier = (threshold: string): TierDraft => ({
  code: "",
  names: { id: "", en: "" },
  threshold,
  multiplier: "100",
  perks: [],
  freeShipping: false,
});

const firstDraft: Draft = {
  metric: "points_earned",
  windowKind: "rolling_months",
  months: "12",
  grace: "30",
  lowestTierAutomatic: true,
  tiers: [{ ...newTier("0"), code: "bronze", names: { id: "Perunggu", en: "Bronze" } }],
};

/**
 * Money strings from the API carry exactly the currency's minor digits (ISO 4217), the unit a
 * spend threshold counts in; Intl's display digits differ for some currencies (IDR).
 */
function minorDigitsOf(program: Program & { earnRate?: { per: string } }): number {
  return program.earnRate?.per.split(".")[1]?.length ?? 0;
}

function minorToMajor(minor: number, digits: number): string {
  if (digits === 0) return String(minor);
  const text = String(minor).padStart(digits + 1, "0");
  return `${text.slice(0, -digits)}.${text.slice(-digits)}`.replace(/\.?0+$/, "");
}

/** A decimal in major units as integer minor units; null with more decimals than the currency. */
function majorToMinor(text: string, digits: number): number | null {
  const match = /^(\d+)(?:[.,](\d*))?$/.exec(text.trim());
  if (!match) return null;
  const fraction = (match[2] ?? "").replace(/0+$/, "");
  if (fraction.length > digits) return null;
  return Number(match[1]) * 10 ** digits + Number(fraction.padEnd(digits, "0") || "0");
}

function draftOf(ladder: LadderVersion, digits: number): Draft {
  const { metric, window } = ladder.qualification;
  return {
    metric,
    windowKind: window.kind,
    months: window.kind === "rolling_months" ? String(window.months) : "12",
    grace: String(ladder.gracePeriodDays),
    lowestTierAutomatic: ladder.lowestTierAutomatic,
    tiers: [...ladder.tiers]
      .sort((a, b) => a.rank - b.rank)
      .map((tier) => ({
        code: tier.code,
        names: tier.names,
        threshold:
          metric === "spend" ? minorToMajor(tier.threshold, digits) : String(tier.threshold),
        multiplier: String(tier.benefits.earnMultiplierPercent),
        perks: tier.benefits.perks,
        freeShipping: tier.benefits.freeShipping,
      })),
  };
}

/** The PUT body, or the thresholds the browser could not convert (too many decimals). */
function bodyOf(draft: Draft, digits: number, t: Text): { body?: unknown; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const tiers = draft.tiers.map((tier, index) => {
    let threshold = Number(tier.threshold);
    if (draft.metric === "spend") {
      const minor = majorToMinor(tier.threshold, digits);
      if (minor === null) errors[`tiers.${index}.threshold`] = fill(t.decimalsMax, { digits });
      threshold = minor ?? 0;
    }
    return {
      code: tier.code,
      rank: index + 1,
      names: tier.names,
      threshold,
      benefits: {
        earnMultiplierPercent: Number(tier.multiplier),
        perks: tier.perks,
        freeShipping: tier.freeShipping,
      },
    };
  });
  if (Object.keys(errors).length > 0) return { errors };
  return {
    errors,
    body: {
      qualification: {
        metric: draft.metric,
        window:
          draft.windowKind === "rolling_months"
            ? { kind: "rolling_months", months: Number(draft.months) }
            : { kind: "calendar_year" },
      },
      gracePeriodDays: Number(draft.grace),
      lowestTierAutomatic: draft.lowestTierAutomatic,
      tiers,
    },
  };
}

function metricLabel(t: Text, metric: Metric): string {
  return { points_earned: t.metricPoints, spend: t.metricSpend, visits: t.metricVisits }[metric];
}

/** One line per version: metric, window, grace and each tier's threshold and multiplier. */
function summary(version: LadderVersion, t: Text, locale: Locale, digits: number): string {
  const { metric, window } = version.qualification;
  const threshold = (tier: Tier) =>
    metric === "spend"
      ? minorToMajor(tier.threshold, digits)
      : formatNumber(tier.threshold, locale);
  return [
    metricLabel(t, metric),
    window.kind === "calendar_year" ? t.windowCalendar : `${t.windowRolling} ${window.months}`,
    `${t.graceDays} ${version.gracePeriodDays}`,
    version.tiers
      .map(
        (tier) =>
          `${tier.names[locale]} ${threshold(tier)} ×${tier.benefits.earnMultiplierPercent / 100}`,
      )
      .join(", "),
  ].join(" · ");
}

/** The ladder editor: each save is a new version on the server; older ones can be loaded again. */
export function Tiers() {
  const { api, programId, t, locale, role, navigate } = useSession();
  const base = `/v1/programs/${programId}`;
  const canWrite = role === "owner" || role === "admin" || role === "marketer";
  const program = useLoad(() => api.get<Program>(`${base}`), [base]);
  const rewards = useLoad(
    () => api.get<Page<Reward>>(`${base}/rewards?status=active&limit=200`),
    [base],
  );
  const [draft, setDraft] = useState<Draft | null>(null);
  const [older, setOlder] = useState<{ rows: LadderVersion[]; cursor: string | null } | null>(null);
  const versions = useLoad(() => {
    setOlder(null);
    return api.get<Page<LadderVersion>>(`${base}/tier-ladder/versions?limit=20`);
  }, [base]);
  const [key, setKey] = useState(newIdempotencyKey);
  const [notice, setNotice] = useState<string | null>(null);
  const [localErrors, setLocalErrors] = useState<FieldErrors>({});
  const [run, busy, error] = useAction();
  if (!program.data || !versions.data) return <ErrorNote error={program.error ?? versions.error} />;
  const digits = minorDigitsOf(program.data);
  const history = [...versions.data.data, ...(older?.rows ?? [])];
  const cursor = older ? older.cursor : versions.data.nextCursor;
  const inForce = versions.data.data[0];
  const current = draft ?? (inForce ? draftOf(inForce, digits) : firstDraft);
  const errors = { ...fieldErrors(error), ...localErrors };
  const update = (change: Partial<Draft>) => {
    setDraft({ ...current, ...change });
    setKey(newIdempotencyKey());
    setNotice(null);
    setLocalErrors({});
  };
  const setTier = (index: number, change: Partial<TierDraft>) =>
    update({
      tiers: current.tiers.map((tier, i) => (i === index ? { ...tier, ...change } : tier)),
    });
  const move = (index: number, by: -1 | 1) => {
    const tiers = [...current.tiers];
    const [moved] = tiers.splice(index, 1);
    if (moved) tiers.splice(index + by, 0, moved);
    update({ tiers });
  };
  const unit =
    current.metric === "spend"
      ? program.data.currency
      : current.metric === "visits"
        ? t.visitsUnit
        : t.pointsUnit;
  const catalog = rewards.data?.data ?? [];
  const rewardLink = (reward: Reward, suffix = "") => (
    <li key={reward.id}>
      <a
        href={adminPath(`rewards/${reward.id}`)}
        onClick={(event) => {
          event.preventDefault();
          navigate(adminPath(`rewards/${reward.id}`));
        }}
      >
        {rewardName(reward, locale)}
      </a>
      {suffix}
    </li>
  );
  const save = () => {
    const { body, errors: conversion } = bodyOf(current, digits, t);
    setLocalErrors(conversion);
    if (!body) return;
    run(async () => {
      const saved = await api.request<LadderVersion>("PUT", `${base}/tier-ladder`, {
        body,
        idempotencyKey: key,
      });
      setKey(newIdempotencyKey());
      setDraft(null);
      setNotice(fill(t.versionSaved, { version: saved.version }));
      versions.reload();
    });
  };
  return (
    <>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          save();
        }}
      >
        <h1>{t.tiers}</h1>
        <Card title={t.qualification}>
          <div className="row">
            <Select
              label={t.metric}
              value={current.metric}
              options={(["points_earned", "spend", "visits"] as const).map((metric) => ({
                value: metric,
                label: metricLabel(t, metric),
              }))}
              onChange={(metric) => update({ metric })}
              error={errors["qualification.metric"]}
            />
            <Select
              label={t.window}
              value={current.windowKind}
              options={[
                { value: "rolling_months", label: t.windowRolling },
                { value: "calendar_year", label: t.windowCalendar },
              ]}
              onChange={(windowKind) => update({ windowKind })}
            />
            {current.windowKind === "rolling_months" && (
              <Field
                label={t.windowMonths}
                type="number"
                value={current.months}
                onChange={(months) => update({ months })}
                error={errorAt(errors, "qualification.window")}
              />
            )}
            <Field
              label={t.graceDays}
              type="number"
              value={current.grace}
              onChange={(grace) => update({ grace })}
              error={errors.gracePeriodDays}
            />
          </div>
          <Check
            label={t.lowestAutomatic}
            checked={current.lowestTierAutomatic}
            onChange={(lowestTierAutomatic) => update({ lowestTierAutomatic })}
          />
          <h3>{t.downgradeRule}</h3>
          <p className="hint">
            {current.windowKind === "rolling_months"
              ? fill(t.downgradeRolling, { months: current.months, grace: current.grace })
              : fill(t.downgradeCalendar, { grace: current.grace })}
          </p>
        </Card>
        {current.tiers.map((tier, index) => {
          const at = `tiers.${index}`;
          const exclusive = catalog.filter((reward) =>
            reward.eligibility.tierCodes.includes(tier.code),
          );
          const priced = catalog.flatMap((reward) =>
            reward.tierCosts
              .filter((cost) => cost.tierCode === tier.code)
              .map((cost) => ({ reward, points: cost.points })),
          );
          const title = `${t.tier} ${index + 1}${tier.names[locale] ? ` — ${tier.names[locale]}` : ""}`;
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: the code is being edited, the position is the rank
            <Card key={index} title={title}>
              <div className="row">
                <Field
                  label={t.code}
                  value={tier.code}
                  onChange={(code) => setTier(index, { code })}
                  error={errors[`${at}.code`]}
                  required
                />
                <Field
                  label={t.nameId}
                  value={tier.names.id}
                  onChange={(id) => setTier(index, { names: { ...tier.names, id } })}
                  error={errors[`${at}.names.id`] ?? errors[`${at}.names`]}
                />
                <Field
                  label={t.nameEn}
                  value={tier.names.en}
                  onChange={(en) => setTier(index, { names: { ...tier.names, en } })}
                  error={errors[`${at}.names.en`]}
                />
                <Field
                  label={`${t.threshold} (${unit})`}
                  type={current.metric === "spend" ? "text" : "number"}
                  inputMode={current.metric === "spend" ? "decimal" : "numeric"}
                  value={tier.threshold}
                  onChange={(threshold) => setTier(index, { threshold })}
                  error={errors[`${at}.threshold`] ?? errors[`${at}.rank`]}
                />
                <Field
                  label={t.multiplier}
                  type="number"
                  value={tier.multiplier}
                  onChange={(multiplier) => setTier(index, { multiplier })}
                  error={errors[`${at}.benefits.earnMultiplierPercent`]}
                />
              </div>
              <Check
                label={t.freeShipping}
                checked={tier.freeShipping}
                onChange={(freeShipping) => setTier(index, { freeShipping })}
              />
              <fieldset>
                <legend>{t.perks}</legend>
                {tier.perks.map((perk, perkIndex) => {
                  const perkAt = `${at}.benefits.perks.${perkIndex}`;
                  const setPerk = (change: Partial<Localized>) =>
                    setTier(index, {
                      perks: tier.perks.map((old, i) =>
                        i === perkIndex ? { ...old, ...change } : old,
                      ),
                    });
                  return (
                    // biome-ignore lint/suspicious/noArrayIndexKey: perks have no id of their own
                    <div className="row" key={perkIndex}>
                      <Field
                        label={fill(t.perkId, { n: perkIndex + 1 })}
                        value={perk.id}
                        onChange={(id) => setPerk({ id })}
                        error={errors[`${perkAt}.id`]}
                      />
                      <Field
                        label={fill(t.perkEn, { n: perkIndex + 1 })}
                        value={perk.en}
                        onChange={(en) => setPerk({ en })}
                        error={errors[`${perkAt}.en`]}
                      />
                      <button
                        type="button"
                        className="secondary"
                        onClick={() =>
                          setTier(index, { perks: tier.perks.filter((_, i) => i !== perkIndex) })
                        }
                      >
                        {`${t.remove}: ${fill(t.perkId, { n: perkIndex + 1 })}`}
                      </button>
                    </div>
                  );
                })}
                {errors[`${at}.benefits.perks`] && (
                  <p className="error">{errors[`${at}.benefits.perks`]}</p>
                )}
                <button
                  type="button"
                  className="secondary"
                  onClick={() => setTier(index, { perks: [...tier.perks, { id: "", en: "" }] })}
                >
                  {t.addPerk}
                </button>
              </fieldset>
              <h3>{t.exclusiveRewards}</h3>
              {exclusive.length > 0 ? (
                <ul>{exclusive.map((reward) => rewardLink(reward))}</ul>
              ) : (
                <p className="muted">{t.none}</p>
              )}
              {priced.length > 0 && (
                <>
                  <h3>{t.tierPrices}</h3>
                  <ul>
                    {priced.map(({ reward, points }) =>
                      rewardLink(reward, `: ${formatNumber(points, locale)} ${t.pointsUnit}`),
                    )}
                  </ul>
                </>
              )}
              <p className="hint">{t.exclusiveHint}</p>
              <div className="row">
                <button
                  type="button"
                  className="secondary"
                  disabled={index === 0}
                  onClick={() => move(index, -1)}
                >
                  {`${t.moveDown}: ${tier.code || index + 1}`}
                </button>
                <button
                  type="button"
                  className="secondary"
                  disabled={index === current.tiers.length - 1}
                  onClick={() => move(index, 1)}
                >
                  {`${t.moveUp}: ${tier.code || index + 1}`}
                </button>
                <button
                  type="button"
                  className="secondary"
                  onClick={() => update({ tiers: current.tiers.filter((_, i) => i !== index) })}
                >
                  {`${t.remove}: ${tier.code || index + 1}`}
                </button>
              </div>
            </Card>
          );
        })}
        {errors.tiers && <p className="error">{errors.tiers}</p>}
        {canWrite && (
          <div className="row">
            <button
              type="button"
              className="secondary"
              onClick={() => update({ tiers: [...current.tiers, newTier("")] })}
            >
              {t.addTier}
            </button>
            <button type="submit" disabled={busy}>
              {t.save}
            </button>
          </div>
        )}
        {notice && (
          <p className="ok" role="status">
            {notice}
          </p>
        )}
        <ErrorNote error={error ?? rewards.error} />
      </form>
      <Card title={t.versions}>
        {history.length === 0 ? (
          <p className="muted">{t.noLadder}</p>
        ) : (
          <table data-testid="tier-versions">
            <thead>
              <tr>
                <th>{t.version}</th>
                <th>{t.savedAt}</th>
                <th>{t.tiers}</th>
                <th>
                  <span className="visually-hidden">{t.actions}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {history.map((version) => (
                <tr key={version.version}>
                  <td>
                    {version.version}
                    {version === inForce ? ` (${t.inForce})` : ""}
                  </td>
                  <td>{formatDate(version.createdAt, locale, true)}</td>
                  <td>{summary(version, t, locale, digits)}</td>
                  <td>
                    {canWrite && (
                      <button
                        type="button"
                        className="secondary"
                        onClick={() => {
                          update(draftOf(version, digits));
                          setNotice(fill(t.versionLoaded, { version: version.version }));
                        }}
                      >
                        {fill(t.loadVersion, { version: version.version })}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {cursor && (
          <button
            type="button"
            className="secondary"
            disabled={busy}
            onClick={() =>
              run(async () => {
                const next = await api.get<Page<LadderVersion>>(
                  `${base}/tier-ladder/versions?limit=20&cursor=${cursor}`,
                );
                setOlder({ rows: [...(older?.rows ?? []), ...next.data], cursor: next.nextCursor });
              })
            }
          >
            {t.loadMore}
          </button>
        )}
      </Card>
    </>
  );
}
