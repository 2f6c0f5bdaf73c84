// {{name}}: a Gatehouse evidence collector in JavaScript. It returns one
// statement naming the version and `[config] builder`; the host signs it.
import { log, config } from 'gatehouse:plugin/host@0.1.0';

export function collect(context) {
  const builder = config('builder');
  if (!builder || builder.tag !== 'text') {
    throw { code: 'config', message: 'set `builder` in [config]' };
  }
  log('info', `collected build info for ${context.application} ${context.version}`);
  return [
    {
      predicateType: 'https://example.com/{{name}}/build-info/v1',
      predicate: JSON.stringify({ builder: builder.val, version: context.version }),
    },
  ];
}
