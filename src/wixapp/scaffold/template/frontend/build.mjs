// Build the browser bundles into the backend's static folder (src/wixnew_app/static/):
// single minified IIFE scripts, as a Wix site and the Wix editor load them.
// `node build.mjs` (or `make frontend`) builds them all and prints their sizes.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const staticDir = resolve(root, 'src/wixnew_app/static');

const BUNDLES = [
  { entry: 'src/widget.js', out: resolve(staticDir, 'widget.js') },
  { entry: 'src/panel.js', out: resolve(staticDir, 'panel.js') },
  { entry: 'src/dashboard.js', out: resolve(staticDir, 'dashboard.js') },
];

mkdirSync(staticDir, { recursive: true });
await Promise.all(
  BUNDLES.map(({ entry, out }) =>
    esbuild.build({
      absWorkingDir: here,
      entryPoints: [entry],
      outfile: out,
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: ['chrome109', 'firefox115', 'safari16', 'edge109'],
      minify: true,
      legalComments: 'eof',
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'warning',
    }),
  ),
);
for (const { out } of BUNDLES) {
  console.log(`  ${relative(root, out).padEnd(36)} ${(statSync(out).size / 1024).toFixed(1)} kB`);
}
