/**
 * The files the browser pages load, served by the gateway itself (no CDN: the gateway works
 * offline): the pages' own scripts and styles (./browser), xterm.js with its fit addon, and
 * noVNC's ES modules, all from the installed packages. The table of files is made once from
 * what is on disk, so a request names an entry of it or nothing: no path from a request ever
 * reaches the file system.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export interface PageAsset {
  contentType: string;
  body: Buffer;
}

/** Every file under `dir` (recursively) whose type is served, by its path relative to `dir` with `/`. */
function filesUnder(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !(extname(entry.name) in CONTENT_TYPES)) continue;
    const file = join(entry.parentPath, entry.name);
    found.set(relative(dir, file).split(sep).join('/'), file);
  }
  return found;
}

/** The package's root folder, found from a file it exports (noVNC exports no package.json). */
function packageRoot(name: string, exported: string): string {
  let dir = dirname(require.resolve(exported));
  while (!readdirSync(dir).includes('package.json')) dir = dirname(dir);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
  if (manifest.name !== name) throw new Error(`${exported} is not in the package ${name}`);
  return dir;
}

/** The asset table: URL path under the assets prefix → file. */
function assetFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const browserDir = fileURLToPath(new URL('./browser/', import.meta.url));
  for (const [path, file] of filesUnder(browserDir)) files.set(path, file);
  const xterm = packageRoot('@xterm/xterm', '@xterm/xterm');
  files.set('xterm/xterm.mjs', join(xterm, 'lib', 'xterm.mjs'));
  files.set('xterm/xterm.css', join(xterm, 'css', 'xterm.css'));
  files.set('xterm/addon-fit.mjs', join(packageRoot('@xterm/addon-fit', '@xterm/addon-fit'), 'lib', 'addon-fit.mjs'));
  // noVNC's modules import one another by relative paths (core/ and vendor/pako): the tree as it is.
  const novnc = packageRoot('@novnc/novnc', '@novnc/novnc');
  for (const folder of ['core', 'vendor']) {
    for (const [path, file] of filesUnder(join(novnc, folder))) files.set(`novnc/${folder}/${path}`, file);
  }
  return files;
}

export interface PageAssets {
  /** The asset at a path under the assets prefix (`xterm/xterm.mjs`), or null. */
  get(path: string): PageAsset | null;
}

export function createPageAssets(): PageAssets {
  const files = assetFiles();
  const loaded = new Map<string, PageAsset>();
  return {
    get(path) {
      const file = files.get(path);
      if (!file) return null;
      let asset = loaded.get(path);
      if (!asset) {
        asset = { contentType: CONTENT_TYPES[extname(file)]!, body: readFileSync(file) };
        loaded.set(path, asset);
      }
      return asset;
    },
  };
}
