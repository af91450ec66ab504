import type { Ctx } from "../../context.ts";
import {
  runSimulation,
  simulationInputSchema,
  simulationReportSchema,
} from "../../modules/simulation/index.ts";
import { type App, errorResponses, programParams, secured } from "../kit.ts";

export function registerSimulationRoutes(app: App, ctx: Ctx): void {
  app.post(
    "/v1/programs/:programId/simulations",
    {
      config: { access: "admin" },
      schema: {
        summary:
          "What-if: replay past purchases under draft campaigns / tier ladder and compare with the live configuration (writes nothing)",
        tags: ["simulation"],
        security: secured,
        params: programParams,
        body: simulationInputSchema,
        response: { 200: simulationReportSchema, ...errorResponses },
      },
    },
    async (request) => runSimulation(ctx, request.params.programId, request.body),
  );
}
