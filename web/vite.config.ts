import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// Three front ends, one build: shared code (React, the API client) lands in a shared chunk.
export default defineConfig({
  root: here("."),
  base: "/",
  publicDir: here("public"),
  plugins: [react()],
  build: {
    outDir: here("../dist/web"),
    emptyOutDir: true,
    target: "es2022",
    reportCompressedSize: false,
    rollupOptions: {
      input: {
        admin: here("admin/index.html"),
        app: here("app/index.html"),
        pos: here("pos/index.html"),
      },
    },
  },
});
