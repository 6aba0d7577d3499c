// The bundled OpenLineage 2-0-2 schemas (../shared/openlineage-spec or DLB_OL_SPEC_DIR) and an
// ajv (JSON Schema 2020-12) validator for whole events, each facet checked at its level.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { REPO_ROOT } from './server.js';

export const SPEC_DIR = process.env.DLB_OL_SPEC_DIR || path.join(REPO_ROOT, '../shared/openlineage-spec');
export const SKIP_SPEC = fs.existsSync(path.join(SPEC_DIR, 'OpenLineage.json'))
  ? false
  : `OpenLineage spec not found at ${SPEC_DIR} (set DLB_OL_SPEC_DIR)`;

/**
 * Returns validate(event), which asserts. standardOnly: every facet must be one of the bundled
 * standard facets (our own events); otherwise custom facets only need _producer/_schemaURL.
 */
export function loadValidator({ standardOnly = false } = {}) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const core = JSON.parse(fs.readFileSync(path.join(SPEC_DIR, 'OpenLineage.json'), 'utf8'));
  ajv.addSchema(core);
  const byLevel = {};
  for (const f of fs.readdirSync(path.join(SPEC_DIR, 'facets'))) {
    const s = JSON.parse(fs.readFileSync(path.join(SPEC_DIR, 'facets', f), 'utf8'));
    ajv.addSchema(s);
    const level = /InputDatasetFacet\.json$/.test(f) ? 'input' : /OutputDatasetFacet\.json$/.test(f) ? 'output'
      : /DatasetFacet\.json$/.test(f) ? 'dataset' : /JobFacet\.json$/.test(f) ? 'job' : 'run';
    for (const k of Object.keys(s.properties || {})) (byLevel[level] ||= {})[k] = ajv.getSchema(s.$id);
  }
  const coreV = ajv.getSchema(core.$id);
  const facets = (level, map) => {
    for (const [k, v] of Object.entries(map || {})) {
      assert.ok(v._producer && v._schemaURL, `${level} facet ${k} has _producer and _schemaURL`);
      const fv = byLevel[level]?.[k];
      if (standardOnly) assert.ok(fv, `${level} facet ${k} is a standard facet with a bundled schema`);
      if (fv) assert.ok(fv({ [k]: v }), `${level} facet ${k}: ${ajv.errorsText(fv.errors)}`);
    }
  };
  return (ev) => {
    assert.ok(coreV(ev), `core schema: ${ajv.errorsText(coreV.errors)}\n${JSON.stringify(ev)}`);
    facets('run', ev.run?.facets);
    facets('job', ev.job?.facets);
    for (const d of [...(ev.inputs || []), ...(ev.outputs || [])]) facets('dataset', d.facets);
    for (const d of ev.inputs || []) facets('input', d.inputFacets);
    for (const d of ev.outputs || []) facets('output', d.outputFacets);
  };
}
