import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The editor is served by the API at `/` from the package's static folder; `npm run dev` proxies /api to a
// local `dyngen serve` (DYNGEN_API_URL, default http://127.0.0.1:8000).
const api = process.env.DYNGEN_API_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../src/dyngen/entrypoints/api/static",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 700,
  },
  server: {
    port: 5173,
    proxy: { "/api": { target: api, changeOrigin: false } },
  },
});
