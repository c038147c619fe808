import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Built into dist/ and served by the FX server at /console (same origin as the API and websockets).
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1024 },
  server: { proxy: { '/v1': { target: 'http://127.0.0.1:8080', ws: true } } },
});
