#!/usr/bin/env node
//! Builds a JavaScript plugin into a component: `node build.js [--wit DIR] [--out FILE] [ENTRY]`.
//!
//! ENTRY (default `plugin.js`) default-exports `definePlugin({...})` and imports the helper as
//! `./fallback-plugin.js`. Its directory's top-level `.js` files are copied into a staging
//! directory (symlinks followed: componentize-js only reads files under the entry's directory),
//! with this directory's `fallback-plugin.js` and a generated entry module that wires the host's
//! `log` import and re-exports the two hooks. componentize-js then evaluates it once, ahead of
//! time, into a component of the `plugin` world with every WASI feature the host does not need
//! switched off (the host offers only `log`, clocks and random numbers).

import { componentize } from '@bytecodealliance/componentize-js';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HELPER = join(dirname(fileURLToPath(import.meta.url)), 'fallback-plugin.js');
const GENERATED = '__fallback_entry.js';

function parseArgs(argv) {
  const opts = { wit: 'wit', out: 'plugin.wasm', entry: 'plugin.js' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--wit' || arg === '--out') {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      opts[arg.slice(2)] = argv[++i];
    } else if (arg === '--help' || arg === '-h') {
      console.log('usage: node build.js [--wit DIR] [--out FILE] [ENTRY]');
      process.exit(0);
    } else if (arg.startsWith('-')) {
      fail(`unknown option ${arg}`);
    } else {
      opts.entry = arg;
    }
  }
  return opts;
}

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

function stage(entry) {
  const dir = mkdtempSync(join(tmpdir(), 'fallback-plugin-js-'));
  const sourceDir = dirname(entry);
  for (const name of readdirSync(sourceDir)) {
    const path = join(sourceDir, name);
    if (/\.(m?js|json)$/.test(name) && name !== 'package-lock.json' && statSync(path).isFile()) {
      copyFileSync(path, join(dir, name));
    }
  }
  copyFileSync(HELPER, join(dir, 'fallback-plugin.js'));
  writeFileSync(
    join(dir, GENERATED),
    [
      "import { log } from 'fallback:plugin/host@0.1.0';",
      "import { __setHostLog } from './fallback-plugin.js';",
      `import plugin from './${basename(entry)}';`,
      '__setHostLog(log);',
      'export function extract(response, context) { return plugin.extract(response, context); }',
      'export function format(variables, context) { return plugin.format(variables, context); }',
      '',
    ].join('\n'),
  );
  return dir;
}

const opts = parseArgs(process.argv.slice(2));
const entry = resolve(opts.entry);
const staged = stage(entry);
try {
  const { component } = await componentize({
    sourcePath: join(staged, GENERATED),
    witPath: resolve(opts.wit),
    worldName: 'plugin',
    disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
  });
  mkdirSync(dirname(resolve(opts.out)), { recursive: true });
  writeFileSync(opts.out, component);
  console.log(`built ${opts.out} (${component.byteLength} bytes)`);
} catch (err) {
  fail(`componentize-js failed on ${opts.entry}: ${err?.message ?? err}`);
} finally {
  rmSync(staged, { recursive: true, force: true });
}
