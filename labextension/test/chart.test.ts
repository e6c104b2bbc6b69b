import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { chartMax, latest, linePath } from '../src/monitor/chart';
import { mcpServerLine } from '../src/monitor/mcp';

const points = [
  { latency_ms_p50: 800, fallbacks: 0 },
  { latency_ms_p50: null, fallbacks: 1 },
  { latency_ms_p50: 400, fallbacks: 0 },
  { latency_ms_p50: 200, fallbacks: 0 }
];

test('the largest value scales the chart; a flat zero line still has a scale', () => {
  assert.equal(chartMax(points, [{ key: 'latency_ms_p50', label: '' }]), 800);
  assert.equal(chartMax([{ fallbacks: 0 }], [{ key: 'fallbacks', label: '' }]), 1);
});

test('an interval without a value breaks the line into segments', () => {
  const { d, drawn } = linePath(points, 'latency_ms_p50', 800, 106, 56, 3);
  assert.equal(drawn, 3);
  assert.equal(d, 'M3.0,3.0 M69.7,28.0 L103.0,40.5');
  assert.equal(latest(points, 'latency_ms_p50'), 200);
  assert.equal(latest([{ x: null }], 'x'), null);
});

test('an MCP server reads as its transport, its tools (read-only marked) or why it failed', () => {
  const base = { name: 'demo', transport: 'stdio' as const, target: 'demo.py', offered: 3, missing: [], last_error: null };
  assert.equal(
    mcpServerLine({
      ...base,
      state: 'connected',
      tools: [
        { name: 'mcp__demo__add', tool: 'add', kind: 'run' },
        { name: 'mcp__demo__shout', tool: 'shout', kind: 'read' }
      ]
    }),
    'demo (stdio demo.py): 2 tools: add, shout (read-only)'
  );
  assert.equal(
    mcpServerLine({ ...base, state: 'failed', tools: [], last_error: 'it exited: no token' }),
    'demo (stdio demo.py): failed - it exited: no token'
  );
});
