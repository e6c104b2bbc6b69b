import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import type { ICatalogModel, IModelCatalog, IModelPull } from '../src/api';
import { formatSize, modelActions, modelLine, pullOf, pullProgress } from '../src/monitor/models';

const coder: ICatalogModel = {
  name: 'qwen2.5-coder-1.5b',
  title: 'Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)',
  bundled: false,
  repo_id: 'Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF',
  filename: 'qwen2.5-coder-1.5b-instruct-q4_k_m.gguf',
  size_bytes: 1_120_000_000,
  license: 'Apache-2.0',
  hardware: 'a laptop CPU with 8 GB+ of memory',
  memory: 'about 2 GB of free memory',
  why: 'The recommended laptop model.',
  fill_in_the_middle: true,
  pulled: false,
  partial_bytes: 0,
  in_use: false
};
const bundled: ICatalogModel = { ...coder, name: 'bundled', bundled: true, pulled: true, in_use: true, size_bytes: 98_362_432 };

const pull: IModelPull = {
  id: '0123456789ab',
  name: coder.name,
  state: 'running',
  done_bytes: 0,
  total_bytes: 0,
  resumed_from_bytes: 0,
  use: true,
  in_use: false,
  error: null,
  note: null
};

function catalog(models: ICatalogModel[], pulls: IModelPull[] = [], switchable = true): IModelCatalog {
  return { models, active: 'bundled', switchable, note: null, pulls };
}

test('sizes read as the command line writes them', () => {
  assert.equal(formatSize(98_362_432), '93.8 MB');
  assert.equal(formatSize(4_680_000_000), '4.4 GB');
  assert.equal(formatSize(512), '512 bytes');
});

test('a model not pulled gets Pull, a half-pulled one Resume, a running pull Cancel', () => {
  assert.deepEqual(modelActions(coder, catalog([bundled, coder])), ['pull']);
  const half = { ...coder, partial_bytes: 400_000_000 };
  assert.deepEqual(modelActions(half, catalog([bundled, half])), ['resume']);
  assert.equal(modelLine(half), 'qwen2.5-coder-1.5b · 1.0 GB · a laptop CPU with 8 GB+ of memory · 35% pulled');
  assert.deepEqual(modelActions(coder, catalog([bundled, coder], [pull])), ['cancel']);
});

test('Use is offered for a pulled model that is not in use, and only where the server can switch', () => {
  const pulled = { ...coder, pulled: true };
  assert.deepEqual(modelActions(pulled, catalog([bundled, pulled])), ['use']);
  assert.deepEqual(modelActions(pulled, catalog([bundled, pulled], [], false)), []);
  assert.deepEqual(modelActions(bundled, catalog([bundled, pulled])), []);
  assert.deepEqual(modelActions({ ...bundled, in_use: false }, catalog([bundled, pulled])), ['use']);
  assert.equal(modelLine(bundled), 'bundled · 93.8 MB · a laptop CPU with 8 GB+ of memory · in use');
});

test('progress reads in words, with the bar value', () => {
  assert.deepEqual(pullProgress(pull), { percent: 0, text: 'Asking the Hugging Face Hub…' });
  const moving = { ...pull, done_bytes: 560_000_000, total_bytes: 1_120_000_000, resumed_from_bytes: 10_485_760 };
  assert.deepEqual(pullProgress(moving), {
    percent: 50,
    text: 'Downloading 50% (534.1 MB of 1.0 GB), resumed at 0%'
  });
  assert.equal(pullProgress({ ...moving, state: 'verifying' }).text, 'Checking the SHA-256 checksum…');
  assert.equal(pullProgress({ ...moving, state: 'cancelled' }).text, 'Cancelled at 50%: Resume pull continues from there.');
  const failed = { ...pull, state: 'failed' as const, error: 'Could not ask the Hugging Face Hub (ConnectError).' };
  assert.deepEqual(pullProgress(failed), { percent: null, text: 'The pull failed: Could not ask the Hugging Face Hub (ConnectError).' });
});

test('the running pull of a model is the one followed, else the newest', () => {
  const old = { ...pull, id: 'aaaaaaaaaaaa', state: 'failed' as const };
  const now = { ...pull, id: 'bbbbbbbbbbbb' };
  assert.equal(pullOf(catalog([coder], [old, now]), coder.name)?.id, 'bbbbbbbbbbbb');
  assert.equal(pullOf(catalog([coder], [old]), coder.name)?.id, 'aaaaaaaaaaaa');
  assert.equal(pullOf(catalog([coder]), coder.name), undefined);
});
