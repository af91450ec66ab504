import { useState } from "react";
import type { Page } from "../../shared/api.ts";
import { formatNumber } from "../../shared/i18n.ts";
import { Card, ErrorNote, Field, Select, useAction, useLoad } from "../../shared/ui.tsx";
import { useSession } from "../session.ts";

interface Reward {
  id: string;
  type: string;
  status: string;
  pointsCost: number;
  stock: number | null;
  texts: { id?: { name: string }; en?: { name: string } };
}

type RewardType = "discount_amount" | "discount_percent" | "free_product";

/** Catalog list and a form for the common reward types; the API takes every type. */
export function Rewards() {
  const { api, programId, t, locale, role } = useSession();
  const base = `/v1/programs/${programId}/rewards`;
  const list = useLoad(() => api.get<Page<Reward>>(`${base}?status=active`), [base]);
  const [type, setType] = useState<RewardType>("discount_amount");
  const [nameId, setNameId] = useState("");
  const [nameEn, setNameEn] = useState("");
  const [pointsCost, setPointsCost] = useState("100");
  const [value, setValue] = useState("");
  const [stock, setStock] = useState("");
  const [run, busy, error] = useAction();
  const canWrite =
    role === "owner" || role === "admin" || role === "marketer" || role === "support";
  const benefit = () => {
    if (type === "discount_amount") return { amount: value };
    if (type === "discount_percent") return { percent: Number(value) };
    return { sku: value };
  };
  return (
    <>
      <h1>{t.rewards}</h1>
      <ErrorNote error={list.error} />
      <table>
        <thead>
          <tr>
            <th>{t.name}</th>
            <th>{t.type}</th>
            <th>{t.pointsCost}</th>
            <th>{t.stock}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.data?.data.map((reward) => (
            <tr key={reward.id}>
              <td>{reward.texts[locale]?.name ?? reward.texts.id?.name ?? reward.id}</td>
              <td>{reward.type}</td>
              <td>{formatNumber(reward.pointsCost, locale)}</td>
              <td>{reward.stock ?? "∞"}</td>
              <td>
                {canWrite && (
                  <button
                    type="button"
                    className="secondary"
                    onClick={() =>
                      run(async () => {
                        await api.request("DELETE", `${base}/${reward.id}`);
                        list.reload();
                      })
                    }
                  >
                    {t.archive}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {canWrite && (
        <Card title={t.newReward}>
          <form
            onSubmit={(event) => {
              event.preventDefault();
              run(async () => {
                await api.post(base, {
                  type,
                  benefit: benefit(),
                  pointsCost: Number(pointsCost),
                  ...(stock && { stock: Number(stock) }),
                  texts: { id: { name: nameId }, ...(nameEn && { en: { name: nameEn } }) },
                });
                setNameId("");
                setNameEn("");
                list.reload();
              });
            }}
          >
            <div className="row">
              <Select
                label={t.type}
                value={type}
                options={[
                  { value: "discount_amount", label: "discount_amount" },
                  { value: "discount_percent", label: "discount_percent" },
                  { value: "free_product", label: "free_product" },
                ]}
                onChange={setType}
              />
              <Field label={t.nameId} value={nameId} onChange={setNameId} required />
              <Field label={t.nameEn} value={nameEn} onChange={setNameEn} />
              <Field
                label={t.pointsCost}
                type="number"
                value={pointsCost}
                onChange={setPointsCost}
                required
              />
              <Field
                label={
                  type === "free_product" ? "SKU" : type === "discount_percent" ? "%" : t.amount
                }
                value={value}
                onChange={setValue}
                required
              />
              <Field label={t.stock} type="number" value={stock} onChange={setStock} />
            </div>
            <button type="submit" disabled={busy}>
              {t.save}
            </button>
          </form>
        </Card>
      )}
      <ErrorNote error={error} />
    </>
  );
}
