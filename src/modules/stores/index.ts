/**
 * Stores registry (P24, P26): the stores of a program keyed by the code purchases carry as
 * storeId, with name, city, channel and status; closed stores refuse new purchases; per-store
 * figures and the codes purchases carry that are not registered.
 */
export {
  figuresDaysMax,
  type StoreFigures,
  storeFigures,
  storeFiguresSchema,
  unregisteredStoreSchema,
  unregisteredStores,
} from "./figures.ts";
export {
  assertActiveStores,
  closedStores,
  createStore,
  getStore,
  listStores,
  type StoreCreate,
  type StoreUpdate,
  type StoreView,
  storeClosed,
  storeCodeLengthMax,
  storeCreateSchema,
  storeSchema,
  storesPerProgramMax,
  storeUpdateSchema,
  storeView,
  updateStore,
} from "./registry.ts";
export { type StoresTable, storeChannels, storeStatuses } from "./tables.ts";
