/** Row types of the stores module's table (migration 013), as the query layer sees them. */

export const storeChannels = ["pos", "webshop", "mobile"] as const;
export type StoreChannel = (typeof storeChannels)[number];
export const storeStatuses = ["active", "closed"] as const;
export type StoreStatus = (typeof storeStatuses)[number];

export interface StoresTable {
  program_id: string;
  code: string;
  name: string;
  city: string | null;
  address: string | null;
  timezone: string | null;
  channel: StoreChannel;
  status: StoreStatus;
  request_hash: string;
  created_at: Date;
  updated_at: Date;
}

export interface StoresTables {
  stores: StoresTable;
}
