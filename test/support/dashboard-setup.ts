/**
 * Vitest global setup: the web dashboard built (`vite build`), so the gateway has /ui to serve on
 * a fresh clone. Built only when there is no build or a source is newer than it; seconds.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const DASHBOARD_DIR = fileURLToPath(new URL('../../gateway/dashboard/', import.meta.url));

/** The newest modification time among the files the build is made from. */
function newestSource(): number {
  const sources = [join(DASHBOARD_DIR, 'index.html'), join(DASHBOARD_DIR, 'vite.config.ts')];
  for (const entry of readdirSync(join(DASHBOARD_DIR, 'src'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) sources.push(join(entry.parentPath, entry.name));
  }
  return Math.max(...sources.map((file) => statSync(file).mtimeMs));
}

function builtAt(): number | null {
  try {
    return statSync(join(DASHBOARD_DIR, 'dist', 'index.html')).mtimeMs;
  } catch {
    return null;
  }
}

export default async function setup(): Promise<void> {
  const built = builtAt();
  if (built !== null && built >= newestSource()) return;
  // Vitest sets NODE_ENV=test, which Vite keeps (a development build of React): build what `npm start` serves.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ configFile: join(DASHBOARD_DIR, 'vite.config.ts'), logLevel: 'warn', mode: 'production' });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
}
