import { defineConfig } from "vitest/config";

// The whole suite runs on PGlite; with TEST_DATABASE_URL set it runs again on PostgreSQL,
// each test file in a fresh database that it drops afterwards.
const postgres = process.env.TEST_DATABASE_URL
  ? [{ extends: true as const, test: { name: "postgres", env: { SETIA_TEST_DRIVER: "postgres" } } }]
  : [];

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "pglite", env: { SETIA_TEST_DRIVER: "pglite" } } },
      ...postgres,
    ],
  },
});
