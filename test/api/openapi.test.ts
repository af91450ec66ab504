import { compileErrors, validate } from "@readme/openapi-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, type TestApi } from "../harness.ts";

type Operation = {
  summary?: string;
  security?: Record<string, string[]>[];
  parameters?: { in: string; name: string }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
};
type Schema = {
  type?: string;
  $ref?: string;
  additionalProperties?: unknown;
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
};
type Document = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, unknown> };
};

const methods = ["get", "put", "post", "delete", "patch", "options", "head", "trace"];

/**
 * The app's routes as "METHOD /path/{param}", read from Fastify's route tree print-out (each
 * line is one node; its path is its parents' paths plus its own segment).
 */
function registeredRoutes(tree: string): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split("\n")) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? "").length / 4;
    stack.length = depth;
    stack.push(match[2] ?? "");
    const path = stack.join("").replace(/:(\w+)/g, "{$1}");
    for (const method of (match[3] ?? "").split(", ").filter(Boolean)) {
      routes.push(`${method} ${path}`);
    }
  }
  return routes;
}

describe("OpenAPI document", () => {
  let api: TestApi;
  let doc: Document;
  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => methods.includes(method))
        .map(([method, operation]) => ({ path, method, operation })),
    );

  beforeAll(async () => {
    api = await createTestApi();
    const response = await api.call("GET", "/openapi.json", { key: null });
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    doc = response.body as unknown as Document;
  });
  afterAll(() => api.close());

  it("is OpenAPI 3.1.0 and valid", async () => {
    expect(doc.openapi).toBe("3.1.0");
    // validate() dereferences in place; keep the fetched document as it was.
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid, result.valid ? "" : compileErrors(result)).toBe(true);
  });

  it("documents every registered route", () => {
    const routes = registeredRoutes(api.app.printRoutes({ commonPrefix: false }));
    // Guards the parser: a route tree read wrongly must not pass as an empty list.
    expect(routes).toEqual(
      expect.arrayContaining([
        "GET /health",
        "POST /v1/programs",
        "POST /v1/programs/{programId}/members/{memberId}/redemptions",
        "POST /v1/programs/{programId}/holds/{holdId}/confirm",
      ]),
    );
    expect(routes.length).toBeGreaterThan(30);
    const documented = new Set(
      operations().map(({ method, path }) => `${method.toUpperCase()} ${path}`),
    );
    const missing = routes.filter(
      (route) =>
        !route.startsWith("HEAD ") && // Fastify's automatic twins of GET routes.
        route !== "GET /openapi.json" &&
        // Image bytes, not JSON: served to <img> tags, described in docs/web-api.md.
        route !== "GET /v1/portal/{programId}/logo" &&
        !documented.has(route),
    );
    expect(missing).toEqual([]);
    // And the other way round: nothing documented that the app does not serve.
    expect([...documented].filter((route) => !routes.includes(route))).toEqual([]);
    expect(documented.has("GET /openapi.json")).toBe(false);
  });

  it("gives every operation a summary", () => {
    const without = operations()
      .filter(({ operation }) => !operation.summary?.trim())
      .map(({ method, path }) => `${method} ${path}`);
    expect(without).toEqual([]);
  });

  it("declares security and error responses on every /v1 operation", () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({
      type: "http",
      scheme: "bearer",
    });
    expect(doc.components.securitySchemes.staffSession).toMatchObject({ in: "cookie" });
    expect(doc.components.securitySchemes.memberSession).toMatchObject({ in: "cookie" });
    const v1 = operations().filter(({ path }) => path.startsWith("/v1/"));
    expect(v1.length).toBeGreaterThan(30);
    const staffOnly = /^\/v1\/staff\/(me|sign-out)/;
    const memberOnly = /^\/v1\/portal\/\{programId\}\/me/;
    // Sign-in, invitations and the portal's public pages: an explicit empty requirement.
    const open =
      /^\/v1\/(staff\/(sign-in|invitations\/(accept|\{token\}))|portal\/\{programId\}\/(branding|sign-in|enrol))/;
    for (const { method, path, operation } of v1) {
      const where = `${method} ${path}`;
      const expected = staffOnly.test(path)
        ? [{ staffSession: [] }]
        : memberOnly.test(path)
          ? [{ memberSession: [] }]
          : open.test(path)
            ? []
            : [{ bearerAuth: [] }, { staffSession: [] }];
      expect(operation.security, where).toEqual(expected);
      for (const status of ["400", "401", "403", "404", "409", "422", "500"]) {
        const schema = operation.responses[status]?.content?.["application/json"]?.schema;
        expect(schema, `${where} ${status}`).toEqual({ $ref: "#/components/schemas/Error" });
      }
      expect(
        Object.keys(operation.responses).some((status) => /^2\d\d$/.test(status)),
        where,
      ).toBe(true);
    }
    expect(doc.components.schemas.Error).toMatchObject({
      type: "object",
      required: ["error"],
    });
  });

  it("leaves the public routes without security", () => {
    expect(doc.paths["/health"]?.get?.security).toBeUndefined();
  });

  it("declares every request body closed to unknown fields", () => {
    const open: string[] = [];
    const visit = (schema: Schema | undefined, where: string) => {
      if (!schema) return;
      if (schema.type === "object" && schema.additionalProperties !== false) open.push(where);
      for (const [name, property] of Object.entries(schema.properties ?? {})) {
        visit(property, `${where}.${name}`);
      }
      visit(schema.items, `${where}[]`);
      for (const [index, option] of (schema.anyOf ?? schema.oneOf ?? []).entries()) {
        visit(option, `${where}|${index}`);
      }
    };
    const bodies = operations().filter(({ operation }) => operation.requestBody);
    expect(bodies.length).toBeGreaterThan(10);
    for (const { method, path, operation } of bodies) {
      visit(operation.requestBody?.content["application/json"]?.schema, `${method} ${path}`);
    }
    expect(open).toEqual([]);
  });

  it("declares the Idempotency-Key header on the retryable writes", () => {
    const writes = [
      "post /v1/programs/{programId}/transactions",
      "post /v1/programs/{programId}/refunds",
      "post /v1/programs/{programId}/members",
      "post /v1/programs/{programId}/members/{memberId}/redemptions",
      "post /v1/programs/{programId}/members/{memberId}/holds",
      "post /v1/programs/{programId}/members/{memberId}/adjustments",
      "post /v1/programs/{programId}/transfers",
    ];
    for (const write of writes) {
      const [method, path] = write.split(" ") as [string, string];
      const parameters = doc.paths[path]?.[method]?.parameters ?? [];
      expect(
        parameters.some((p) => p.in === "header" && p.name === "idempotency-key"),
        write,
      ).toBe(true);
    }
  });
});
