import { createContext, useContext } from "react";
import type { Api } from "../shared/api.ts";
import type { Locale } from "../shared/i18n.ts";
import type { Text } from "./i18n.ts";

export type Role = "owner" | "admin" | "marketer" | "analyst" | "support" | "cashier";
export type Area =
  | "reports"
  | "members"
  | "rules"
  | "rewards"
  | "stores"
  | "settings"
  | "staff"
  | "keys";

export interface Staff {
  id: string;
  email: string;
  displayName: string;
  totpEnabled: boolean;
  status: "active" | "disabled";
  memberships: { programId: string | null; role: Role; storeIds: string[] }[];
  createdAt: string;
}

/** The pages each role may open; mirrors the server's table (docs/web-api.md), which decides. */
const areasOf: Record<Role, Area[]> = {
  owner: ["reports", "members", "rules", "rewards", "stores", "settings", "staff", "keys"],
  admin: ["reports", "members", "rules", "rewards", "stores", "settings", "staff", "keys"],
  // Stores: read only below admin (the page hides its forms), as the server decides.
  marketer: ["reports", "members", "rules", "rewards", "stores"],
  analyst: ["reports", "members", "rules", "rewards", "stores"],
  support: ["reports", "members", "rules", "rewards", "stores"],
  cashier: [],
};

export function mayOpen(role: Role, area: Area): boolean {
  return areasOf[role].includes(area);
}

/** The role on a program: a deployment owner (programId null) is owner everywhere. */
export function roleOn(staff: Staff, programId: string): Role | null {
  const membership =
    staff.memberships.find((m) => m.programId === null) ??
    staff.memberships.find((m) => m.programId === programId);
  return membership?.role ?? null;
}

export interface Session {
  api: Api;
  programId: string;
  role: Role;
  locale: Locale;
  t: Text;
  navigate: (path: string) => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("no session");
  return session;
}

export function adminPath(path: string): string {
  return `/admin/${path.replace(/^\//, "")}`;
}
