// Build the browser bundles: single minified IIFE scripts, no source maps, no CDN.
// `node build.mjs` (or `make frontend`) builds them all and prints their sizes.
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const staticDir = resolve(root, 'src/wixapp/static');
const pagesDir = resolve(root, 'src/wixapp/emulator/pages');

/** What is built: the app's bundles (served by the backend) and the emulator's host bundle. */
const BUNDLES = [
  { entry: 'src/widget.js', out: resolve(staticDir, 'widget.js'), what: 'site widget <wixapp-widget>' },
  { entry: 'src/panel.js', out: resolve(staticDir, 'panel.js'), what: 'settings panel' },
  {
    entry: 'src/widget-react.jsx',
    out: resolve(staticDir, 'widget-react.js'),
    what: 'site widget, React component form',
    globalName: 'WixappWidgetReact',
  },
  { entry: 'src/host/editor-host.js', out: resolve(pagesDir, 'editor-host.js'), what: 'emulator editor host' },
  { entry: 'src/host/site-host.js', out: resolve(pagesDir, 'site-host.js'), what: 'emulator site host' },
  { entry: 'src/host/dashboard-host.js', out: resolve(pagesDir, 'dashboard-host.js'), what: 'emulator dashboard host' },
  { entry: 'src/dashboard.js', out: resolve(staticDir, 'dashboard.js'), what: 'dashboard page (@wix/dashboard)' },
  // The same app in the Wix CLI's form (@wix/essentials httpClient.fetchWithAuth).
  { entry: 'src/cli/entry-widget.js', out: resolve(staticDir, 'cli-widget.js'), what: 'CLI-form widget <wixapp-cli-widget>' },
  {
    entry: 'src/cli/entry-widget-react.js',
    out: resolve(staticDir, 'cli-widget-react.js'),
    what: 'CLI-form React widget <wixapp-cli-widget-react>',
  },
  { entry: 'src/cli/entry-panel.js', out: resolve(staticDir, 'cli-panel.js'), what: 'CLI-form settings panel' },
];

const common = {
  absWorkingDir: here,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  // What the Wix editor and current Wix sites support; esbuild lowers newer syntax.
  target: ['chrome109', 'firefox115', 'safari16', 'edge109'],
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  jsx: 'automatic',
  charset: 'utf8',
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
};

function kB(bytes) {
  return `${(bytes / 1024).toFixed(1)} kB`.padStart(9);
}

async function build() {
  mkdirSync(staticDir, { recursive: true });
  mkdirSync(pagesDir, { recursive: true });
  const started = Date.now();
  await Promise.all(
    BUNDLES.map(({ entry, out, globalName }) =>
      esbuild.build({ ...common, entryPoints: [entry], outfile: out, globalName }),
    ),
  );
  console.log(`frontend: built ${BUNDLES.length} bundles in ${Date.now() - started} ms`);
  for (const { out, what } of BUNDLES) {
    const code = readFileSync(out);
    console.log(`  ${relative(root, out).padEnd(42)} ${kB(code.length)}  (${kB(gzipSync(code).length).trim()} gzip)  ${what}`);
  }
}

build().catch((error) => {
  console.error(error.message ?? error);
  process.exit(1);
});
