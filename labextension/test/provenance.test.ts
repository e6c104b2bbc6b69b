import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { latestProvenance, mergeProvenance } from '../src/notebook/provenance';

const answer = {
  nexus: { task: 'natural_language', transport: 'server', model: 'SmolLM2', provider: 'local', prompt_hash: 'ab12' },
  nexus_cell: { model: 'SmolLM2', provider: 'local', prompt_id: 'ab12', interaction_id: 7 }
};

test('the newest output with provenance wins; outputs without it are skipped', () => {
  const older = { nexus_cell: { model: 'old', provider: 'x', prompt_id: '1', interaction_id: null } };
  assert.deepEqual(latestProvenance([older, answer, {}, undefined]), {
    model: 'SmolLM2',
    provider: 'local',
    prompt_id: 'ab12',
    interaction_id: 7
  });
  assert.deepEqual(latestProvenance([older]), { model: 'old', provider: 'x', prompt_id: '1' });
  assert.equal(latestProvenance([{}, { nexus_cell: { provider: 'no model yet' } }]), null);
});

test('merging keeps other keys under metadata.nexus and reports no change when there is none', () => {
  const found = latestProvenance([answer])!;
  const attributed = { author: 'alice', model: 'old', interaction_id: 3 };
  assert.deepEqual(mergeProvenance(attributed, found), {
    author: 'alice',
    model: 'SmolLM2',
    provider: 'local',
    prompt_id: 'ab12',
    interaction_id: 7
  });
  assert.equal(mergeProvenance(mergeProvenance(undefined, found), found), null);
  assert.deepEqual(mergeProvenance('not an object', found), found);
});
