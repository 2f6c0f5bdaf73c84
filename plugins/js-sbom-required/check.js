// Gatehouse gate check in JavaScript: the version must carry verified SBOM
// evidence (CycloneDX or SPDX). Built into a component by build.mjs with
// componentize-js against ../../wit (world gatehouse:plugin/gate-check).
import { log, config } from 'gatehouse:plugin/host@0.1.0';

const SBOM_TYPES = ['https://cyclonedx.org/bom', 'https://spdx.dev/Document', 'https://spdx.dev/Document/v2.3'];

function configText(key, fallback) {
  const v = config(key);
  return v && v.tag === 'text' ? v.val : fallback;
}

export function check(context) {
  let input;
  try {
    input = JSON.parse(context.input);
  } catch (e) {
    // Thrown values become the `error` of result<verdict, error>.
    throw { code: 'bad-input', message: `input document: ${e}` };
  }
  const evidence = Array.isArray(input.evidence) ? input.evidence : [];
  const sboms = evidence.filter((e) => SBOM_TYPES.includes(e.predicate_type));
  log('debug', `${sboms.length} SBOM(s) among ${evidence.length} evidence item(s)`);
  if (sboms.length > 0) {
    return { outcome: 'pass', findings: [] };
  }
  const severity = configText('severity', 'high');
  return {
    outcome: severity === 'high' || severity === 'critical' ? 'fail' : 'warn',
    findings: [
      {
        rule: 'SBOM-JS-001',
        message: `${context.application} ${context.version} has no verified SBOM (checked at ${context.transition.gate})`,
        severity,
        remediation: 'generate a CycloneDX or SPDX SBOM in CI, sign it, and add it as evidence',
      },
    ],
  };
}
