// {{name}}: a Gatehouse evidence collector in JavaScript. It returns one
// statement naming the version and `[config] builder`; the host signs it.
import { log, config } from 'gatehouse:plugin/host@0.1.0';

// componentize-js turns a thrown value into the result's error only when it
// is {code, message}; anything else (a TypeError, a plain Error) would trap
// and lose its message, so every exception leaves as {code, message}.
export function collect(context) {
  try {
    return gather(context);
  } catch (e) {
    if (e && typeof e.code === 'string' && typeof e.message === 'string') throw e;
    console.error(e && e.stack ? e.stack : String(e));
    throw { code: 'exception', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

function gather(context) {
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
