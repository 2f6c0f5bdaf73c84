// {{name}}: a Gatehouse gate check in JavaScript. It blocks a transition
// unless the version carries verified evidence of every predicate type
// `[config] required` names (a binding's params.required replaces the list).
import { log, config } from 'gatehouse:plugin/host@0.1.0';

function configList(key) {
  const v = config(key);
  if (!v) return [];
  return v.tag === 'list' ? v.val : v.tag === 'text' ? [v.val] : [];
}

// componentize-js turns a thrown value into the result's error only when it
// is {code, message}; anything else (a TypeError, a plain Error) would trap
// and lose its message, so every exception leaves as {code, message}.
export function check(context) {
  try {
    return judge(context);
  } catch (e) {
    if (e && typeof e.code === 'string' && typeof e.message === 'string') throw e;
    console.error(e && e.stack ? e.stack : String(e));
    throw { code: 'exception', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

function judge(context) {
  let input, params;
  try {
    input = JSON.parse(context.input);
    params = JSON.parse(context.params);
  } catch (e) {
    // A thrown {code, message} is the check's error: the gate blocks and shows both.
    throw { code: 'bad-input', message: `input document or params: ${e}` };
  }
  let required = configList('required');
  if (params.required !== undefined) {
    if (!Array.isArray(params.required)) {
      throw { code: 'bad-params', message: 'params.required must be a list of predicate types' };
    }
    required = params.required;
  }
  const evidence = Array.isArray(input.evidence) ? input.evidence : [];
  const present = evidence.map((e) => e.predicate_type);
  log('info', `${context.application} ${context.version}: ${evidence.length} evidence item(s), ${required.length} type(s) required`);
  const findings = required
    .filter((t) => !present.includes(t))
    .map((t) => ({
      rule: '{{rule}}',
      message: `${context.application} ${context.version} has no verified evidence of type ${t}`,
      severity: 'high',
      remediation: `sign a statement of type ${t} in CI and add it as evidence`,
    }));
  return { outcome: findings.length ? 'fail' : 'pass', findings };
}
