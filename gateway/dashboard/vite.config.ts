/** The dashboard's build: static files under dist/, served by the gateway at /ui (gateway/pages/dashboard-files.ts). */
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The gateway's CSP allows no inline script or style: nothing is inlined as a data: URL either.
    assetsInlineLimit: 0,
  },
});
