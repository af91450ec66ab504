import { useState } from "react";
import { ApiError } from "../../shared/api.ts";
import { Card, Check, ErrorNote, Field, Select, useAction, useLoad } from "../../shared/ui.tsx";
import { useSession } from "../session.ts";

interface Tier {
  code: string;
  rank: number;
  names: { id?: string; en?: string };
  threshold: number;
  benefits?: { earnMultiplierPercent?: number };
}
interface Ladder {
  qualification: {
    metric: "spend" | "points_earned" | "visits";
    window: { kind: "rolling_months"; months: number } | { kind: "calendar_year" };
  };
  gracePeriodDays: number;
  lowestTierAutomatic: boolean;
  tiers: Tier[];
}

const emptyLadder: Ladder = {
  qualification: { metric: "points_earned", window: { kind: "rolling_months", months: 12 } },
  gracePeriodDays: 30,
  lowestTierAutomatic: true,
  tiers: [{ code: "bronze", rank: 1, names: { id: "Perunggu", en: "Bronze" }, threshold: 0 }],
};

/** The ladder editor: each save is a new version on the server (PUT …/tier-ladder). */
export function Tiers() {
  const { api, programId, t } = useSession();
  const [ladder, setLadder] = useState<Ladder | null>(null);
  const loaded = useLoad(
    () =>
      api
        .get<Ladder>(`/v1/programs/${programId}/tier-ladder`)
        .catch((error: unknown) => {
          if (error instanceof ApiError && error.code === "tier_ladder_not_found")
            return emptyLadder;
          throw error;
        })
        .then((value) => {
          setLadder(value);
          return value;
        }),
    [programId],
  );
  const [run, busy, error] = useAction();
  const [saved, setSaved] = useState(false);
  if (!ladder) return <ErrorNote error={loaded.error} />;
  const setTier = (index: number, change: Partial<Tier>) =>
    setLadder({
      ...ladder,
      tiers: ladder.tiers.map((tier, i) => (i === index ? { ...tier, ...change } : tier)),
    });
  const months =
    ladder.qualification.window.kind === "rolling_months" ? ladder.qualification.window.months : 12;
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        setSaved(false);
        run(async () => {
          const { qualification, gracePeriodDays, lowestTierAutomatic, tiers } = ladder;
          await api.put(`/v1/programs/${programId}/tier-ladder`, {
            qualification,
            gracePeriodDays,
            lowestTierAutomatic,
            tiers,
          });
          setSaved(true);
        });
      }}
    >
      <h1>{t.tiers}</h1>
      <Card title={t.qualification}>
        <div className="row">
          <Select
            label={t.metric}
            value={ladder.qualification.metric}
            options={[
              { value: "points_earned", label: "points_earned" },
              { value: "spend", label: "spend" },
              { value: "visits", label: "visits" },
            ]}
            onChange={(metric) =>
              setLadder({ ...ladder, qualification: { ...ladder.qualification, metric } })
            }
          />
          <Field
            label={t.windowMonths}
            type="number"
            value={String(months)}
            onChange={(value) =>
              setLadder({
                ...ladder,
                qualification: {
                  ...ladder.qualification,
                  window: { kind: "rolling_months", months: Number(value) },
                },
              })
            }
          />
          <Field
            label={t.graceDays}
            type="number"
            value={String(ladder.gracePeriodDays)}
            onChange={(value) => setLadder({ ...ladder, gracePeriodDays: Number(value) })}
          />
        </div>
        <Check
          label="lowestTierAutomatic"
          checked={ladder.lowestTierAutomatic}
          onChange={(lowestTierAutomatic) => setLadder({ ...ladder, lowestTierAutomatic })}
        />
      </Card>
      {ladder.tiers.map((tier, index) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: the code is being edited, the index is stable
        <Card key={index} title={`${t.tier} ${index + 1}`}>
          <div className="row">
            <Field
              label={t.code}
              value={tier.code}
              onChange={(code) => setTier(index, { code })}
              required
            />
            <Field
              label={t.rank}
              type="number"
              value={String(tier.rank)}
              onChange={(v) => setTier(index, { rank: Number(v) })}
            />
            <Field
              label={t.nameId}
              value={tier.names.id ?? ""}
              onChange={(id) => setTier(index, { names: { ...tier.names, id } })}
            />
            <Field
              label={t.nameEn}
              value={tier.names.en ?? ""}
              onChange={(en) => setTier(index, { names: { ...tier.names, en } })}
            />
            <Field
              label={t.threshold}
              type="number"
              value={String(tier.threshold)}
              onChange={(v) => setTier(index, { threshold: Number(v) })}
            />
            <Field
              label={t.multiplier}
              type="number"
              value={String(tier.benefits?.earnMultiplierPercent ?? 100)}
              onChange={(v) =>
                setTier(index, { benefits: { ...tier.benefits, earnMultiplierPercent: Number(v) } })
              }
            />
          </div>
          <button
            type="button"
            className="secondary"
            onClick={() =>
              setLadder({ ...ladder, tiers: ladder.tiers.filter((_, i) => i !== index) })
            }
          >
            {t.remove}
          </button>
        </Card>
      ))}
      <div className="row">
        <button
          type="button"
          className="secondary"
          onClick={() =>
            setLadder({
              ...ladder,
              tiers: [
                ...ladder.tiers,
                { code: "", rank: ladder.tiers.length + 1, names: {}, threshold: 0 },
              ],
            })
          }
        >
          {t.addTier}
        </button>
        <button type="submit" disabled={busy}>
          {t.save}
        </button>
      </div>
      {saved && (
        <p className="ok" role="status">
          {t.saved}
        </p>
      )}
      <ErrorNote error={error} />
    </form>
  );
}
