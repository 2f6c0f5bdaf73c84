// Build {{source}} into a {{world}} component: `npm ci && node build.mjs`.
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, '{{wasm}}');
const { component } = await componentize({
  sourcePath: join(here, '{{source}}'),
  witPath: join(here, 'wit'),
  worldName: 'gatehouse:plugin/{{world}}@0.1.0',
  // stdio stays: console.error lines reach `gatehouse plugin run` and the
  // sidecar's log (bounded by max_log_bytes), and a crash shows its last ones.
  disableFeatures: ['random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
console.log(`wrote ${out} (${component.length} bytes)`);
