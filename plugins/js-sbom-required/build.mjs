// Build check.js into a gate-check component with the componentize() API
// (the `jco componentize` CLI of the current npm release is broken).
// Usage: node build.mjs OUT.wasm
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, 'js_sbom_required.wasm');
const { component } = await componentize({
  sourcePath: join(here, 'check.js'),
  witPath: join(here, '..', '..', 'wit'),
  worldName: 'gatehouse:plugin/gate-check@0.1.0',
  // A gate check needs none of these. stdio stays: console.error lines reach
  // the log (bounded by max_log_bytes), and a crash carries its last ones.
  disableFeatures: ['random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
console.log(`wrote ${out} (${component.length} bytes)`);
