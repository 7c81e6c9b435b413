// Build the browser bundles into the backend's static folder (src/wixnew_app/static/):
// single minified IIFE scripts, as a Wix site and the Wix editor load them.
// `node build.mjs` (or `make frontend`) builds them all and prints their sizes;
// `node build.mjs --watch` (run by `make dev`) rebuilds each one when its sources change.
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

const options = ({ entry, out }) => ({
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
});

const size = (out) => `${relative(root, out).padEnd(36)} ${(statSync(out).size / 1024).toFixed(1)} kB`;

// Says when each rebuild is done, so the next page load has it.
const reportRebuilds = (out) => ({
  name: 'report-rebuilds',
  setup(build) {
    build.onEnd((result) => {
      const failed = result.errors.length > 0;
      console.log(failed ? `  ${relative(root, out)}: build failed` : `  rebuilt ${size(out)}`);
    });
  },
});

mkdirSync(staticDir, { recursive: true });
if (process.argv.includes('--watch')) {
  const contexts = await Promise.all(
    BUNDLES.map((bundle) =>
      esbuild.context({ ...options(bundle), plugins: [reportRebuilds(bundle.out)] }),
    ),
  );
  await Promise.all(contexts.map((context) => context.watch()));
  console.log('  watching frontend/src: bundles rebuild on change');
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, async () => {
      await Promise.all(contexts.map((context) => context.dispose()));
      process.exit(0);
    });
  }
} else {
  await Promise.all(BUNDLES.map((bundle) => esbuild.build(options(bundle))));
  for (const { out } of BUNDLES) {
    console.log(`  ${size(out)}`);
  }
}
