export { type AddressPolicy, assertUrlAllowed, isPrivateAddress } from "./address.ts";
export { eventCatalog, openApiWebhooks } from "./catalog.ts";
export {
  attemptsMax,
  defaultWebhookSettings,
  deliverySchema,
  listDeliveries,
  type Replay,
  replay,
  replaySchema,
  retryDelayMs,
  retryDelaysMs,
  runWebhooksOnce,
  signatures,
  startWebhookWorker,
  type WebhookReport,
  type WebhookSettings,
} from "./delivery.ts";
export {
  assertEndpoint,
  createEndpoint,
  deleteEndpoint,
  endpointCreateSchema,
  endpointSchema,
  endpointUpdateSchema,
  getEndpoint,
  listEndpoints,
  matchesFilters,
  parseEndpointUrl,
  rotateSecret,
  secretRotateSchema,
  updateEndpoint,
} from "./endpoints.ts";
