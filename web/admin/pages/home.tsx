import { useState } from "react";
import { LineChart } from "../../shared/chart.tsx";
import { formatDate, formatNumber } from "../../shared/i18n.ts";
import { ErrorNote, Field, Select, useLoad } from "../../shared/ui.tsx";
import { useSession } from "../session.ts";

interface Overview {
  totals: {
    members: number;
    activeMembers: number;
    pointsIssued: number;
    pointsRedeemed: number;
    pointsExpired: number;
    liability: number;
  };
  series: {
    start: string;
    newMembers: number;
    activeMembers: number;
    pointsIssued: number;
    pointsRedeemed: number;
    liability: number;
  }[];
}

const isoDate = (date: Date) => date.toISOString().slice(0, 10);

export function Home() {
  const { api, programId, t, locale } = useSession();
  const today = new Date();
  const [from, setFrom] = useState(isoDate(new Date(today.getTime() - 29 * 86_400_000)));
  const [to, setTo] = useState(isoDate(today));
  const [granularity, setGranularity] = useState<"day" | "week" | "month">("day");
  const { data, error } = useLoad(
    () =>
      api.get<Overview>(
        `/v1/programs/${programId}/reports/overview?from=${from}&to=${to}&granularity=${granularity}`,
      ),
    [programId, from, to, granularity],
  );
  const figures = data && [
    { label: t.totalMembers, value: data.totals.members },
    { label: t.activeMembers, value: data.totals.activeMembers },
    { label: t.pointsIssued, value: data.totals.pointsIssued },
    { label: t.pointsRedeemed, value: data.totals.pointsRedeemed },
    { label: t.liability, value: data.totals.liability },
  ];
  const series = (pick: (row: Overview["series"][number]) => number) =>
    (data?.series ?? []).map((row) => ({ label: formatDate(row.start, locale), value: pick(row) }));
  return (
    <>
      <h1>{t.home}</h1>
      <div className="row">
        <Field label={t.from} type="date" value={from} onChange={setFrom} />
        <Field label={t.to} type="date" value={to} onChange={setTo} />
        <Select
          label={t.granularity}
          value={granularity}
          options={[
            { value: "day", label: t.day },
            { value: "week", label: t.week },
            { value: "month", label: t.month },
          ]}
          onChange={setGranularity}
        />
      </div>
      {error ? <ErrorNote error={error} /> : null}
      {figures && (
        <div className="grid">
          {figures.map((figure) => (
            <section className="card" key={figure.label}>
              <h2>{figure.label}</h2>
              <p className="figure">{formatNumber(figure.value, locale)}</p>
            </section>
          ))}
        </div>
      )}
      {data && (
        <div className="grid">
          <section className="card">
            <LineChart title={t.newMembers} points={series((row) => row.newMembers)} />
          </section>
          <section className="card">
            <LineChart title={t.activeMembers} points={series((row) => row.activeMembers)} />
          </section>
          <section className="card">
            <LineChart title={t.pointsIssued} points={series((row) => row.pointsIssued)} />
          </section>
          <section className="card">
            <LineChart title={t.pointsRedeemed} points={series((row) => row.pointsRedeemed)} />
          </section>
          <section className="card">
            <LineChart title={t.liability} points={series((row) => row.liability)} />
          </section>
        </div>
      )}
    </>
  );
}
