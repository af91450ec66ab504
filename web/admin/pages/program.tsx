import { useState } from "react";
import type { Program } from "../../shared/api.ts";
import { Card, ErrorNote, Field, Select, useAction, useLoad } from "../../shared/ui.tsx";
import { fieldErrors } from "../schema-form.tsx";
import { useSession } from "../session.ts";

type Expiry =
  | { policy: "none" }
  | { policy: "months_after_earn"; months: number }
  | { policy: "end_of_year"; years: number };

/** The settings PATCH /v1/programs/{id} takes; currency is fixed at creation. */
interface ProgramSettingsView extends Program {
  locale: "id" | "en";
  earnRate: { points: number; per: string; rounding: "floor" | "round" | "ceil" };
  expiry: Expiry;
  returnsWindowDays: number;
  refundPolicy: "allow_negative" | "forfeit";
  holdTtlSeconds: number;
}

/** Whole numbers typed in a text box; anything else goes to the server to be refused there. */
const wholeOrRaw = (value: string): number | string =>
  /^\d+$/.test(value) ? Number(value) : value;

/**
 * Program settings: name, timezone, language, earn rate, expiry, returns window, refunds and
 * hold time. Changes apply to what happens from now on; points already earned keep their lots.
 */
export function ProgramSettings() {
  const { api, programId, t } = useSession();
  const base = `/v1/programs/${programId}`;
  const [program, setProgram] = useState<ProgramSettingsView | null>(null);
  const load = useLoad(() => api.get<ProgramSettingsView>(base).then(setProgram), [base]);
  const [run, busy, error] = useAction();
  const [saved, setSaved] = useState(false);
  const errors = fieldErrors(error);
  if (!program) return <ErrorNote error={load.error} />;
  const set = (change: Partial<ProgramSettingsView>) => {
    setSaved(false);
    setProgram({ ...program, ...change });
  };
  const { expiry, earnRate } = program;
  const expiryCount =
    expiry.policy === "months_after_earn"
      ? expiry.months
      : expiry.policy === "end_of_year"
        ? expiry.years
        : 0;
  return (
    <Card title={t.programSettings}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          run(async () => {
            setProgram(
              await api.patch<ProgramSettingsView>(base, {
                name: program.name,
                timezone: program.timezone,
                locale: program.locale,
                earnRate: { ...earnRate, points: wholeOrRaw(String(earnRate.points)) },
                expiry,
                returnsWindowDays: wholeOrRaw(String(program.returnsWindowDays)),
                refundPolicy: program.refundPolicy,
                holdTtlSeconds: wholeOrRaw(String(program.holdTtlSeconds)),
              }),
            );
            setSaved(true);
          });
        }}
      >
        <div className="row">
          <Field
            label={t.name}
            value={program.name}
            error={errors.name}
            onChange={(name) => set({ name })}
          />
          <Field
            label={t.timezone}
            value={program.timezone}
            error={errors.timezone}
            onChange={(timezone) => set({ timezone })}
          />
          <Select
            label={t.programLocale}
            value={program.locale}
            options={[
              { value: "id", label: "Bahasa Indonesia" },
              { value: "en", label: "English" },
            ]}
            onChange={(locale) => set({ locale })}
          />
        </div>
        <h3>{t.earnRate}</h3>
        <div className="row">
          <Field
            label={t.earnPoints}
            inputMode="numeric"
            value={String(earnRate.points)}
            error={errors["earnRate.points"]}
            onChange={(points) =>
              set({ earnRate: { ...earnRate, points: wholeOrRaw(points) as number } })
            }
          />
          <Field
            label={`${t.earnPer} (${program.currency})`}
            inputMode="decimal"
            value={earnRate.per}
            error={errors["earnRate.per"]}
            onChange={(per) => set({ earnRate: { ...earnRate, per } })}
          />
          <Select
            label={t.rounding}
            value={earnRate.rounding}
            options={[
              { value: "floor", label: t.roundingFloor },
              { value: "round", label: t.roundingRound },
              { value: "ceil", label: t.roundingCeil },
            ]}
            onChange={(rounding) => set({ earnRate: { ...earnRate, rounding } })}
          />
        </div>
        <h3>{t.expiryTitle}</h3>
        <div className="row">
          <Select
            label={t.expiryPolicy}
            value={expiry.policy}
            options={[
              { value: "none", label: t.expiryNone },
              { value: "months_after_earn", label: t.expiryMonths },
              { value: "end_of_year", label: t.expiryEndOfYear },
            ]}
            onChange={(policy) =>
              set({
                expiry:
                  policy === "none"
                    ? { policy }
                    : policy === "months_after_earn"
                      ? { policy, months: expiryCount || 12 }
                      : { policy, years: expiryCount || 1 },
              })
            }
          />
          {expiry.policy !== "none" && (
            <Field
              label={
                expiry.policy === "months_after_earn" ? t.expiryMonthsCount : t.expiryYearsCount
              }
              inputMode="numeric"
              value={String(expiryCount)}
              error={
                errors[expiry.policy === "months_after_earn" ? "expiry.months" : "expiry.years"]
              }
              onChange={(count) =>
                set({
                  expiry:
                    expiry.policy === "months_after_earn"
                      ? { policy: expiry.policy, months: wholeOrRaw(count) as number }
                      : { policy: expiry.policy, years: wholeOrRaw(count) as number },
                })
              }
            />
          )}
        </div>
        <h3>{t.refundsTitle}</h3>
        <div className="row">
          <Field
            label={t.returnsWindowDays}
            inputMode="numeric"
            value={String(program.returnsWindowDays)}
            error={errors.returnsWindowDays}
            hint={t.returnsWindowHint}
            onChange={(days) => set({ returnsWindowDays: wholeOrRaw(days) as number })}
          />
          <Select
            label={t.refundPolicy}
            value={program.refundPolicy}
            options={[
              { value: "allow_negative", label: t.refundAllowNegative },
              { value: "forfeit", label: t.refundForfeit },
            ]}
            onChange={(refundPolicy) => set({ refundPolicy })}
          />
          <Field
            label={t.holdTtlSeconds}
            inputMode="numeric"
            value={String(program.holdTtlSeconds)}
            error={errors.holdTtlSeconds}
            onChange={(seconds) => set({ holdTtlSeconds: wholeOrRaw(seconds) as number })}
          />
        </div>
        <p className="hint">{t.programSettingsHint}</p>
        <ErrorNote error={error} />
        {saved && (
          <p className="ok" role="status">
            {t.saved}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {t.save}
        </button>
      </form>
    </Card>
  );
}
