import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { attributionLabel } from '../src/notebook/attribution';

test('cells NEXUS wrote are tagged with who asked; other cells are not', () => {
  assert.equal(attributionLabel({ generated: true, requested_by: 'Alice', at: '2026-12-01T00:00:00Z' }), 'NEXUS for Alice');
  assert.equal(attributionLabel({ generated: true }), 'NEXUS');
  assert.equal(
    attributionLabel({ generated: true, requested_by: 'Alice', at: '', agent: 'nexus', agent_run: 'r1' }),
    'NEXUS agent for Alice'
  );
  assert.equal(
    attributionLabel({ generated: true, requested_by: 'Alice', at: '', agent: 'claude-code' }),
    'NEXUS for Alice via claude-code'
  );
  assert.equal(attributionLabel(undefined), null);
  assert.equal(attributionLabel({ model: 'x' }), null, 'provenance alone (a magic output) is not a generated cell');
});
