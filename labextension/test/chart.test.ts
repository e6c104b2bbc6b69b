import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { CHARTS, chartMax, clockTime, formatTick, latest, linePath, niceTicks, timeTicks, total } from '../src/monitor/chart';
import { mcpServerLine } from '../src/monitor/mcp';

process.env.TZ = 'UTC'; // the clock labels are the browser's local time: pin it for the test

const points = [
  { latency_ms_p50: 800, fallbacks: 0 },
  { latency_ms_p50: null, fallbacks: 1 },
  { latency_ms_p50: 400, fallbacks: 0 },
  { latency_ms_p50: 200, fallbacks: 0 }
];
const area = { left: 3, top: 3, width: 100, height: 50 };
const at = (hms: string) => Date.parse(`2026-03-02T${hms}Z`);

test('the largest value scales the chart; a flat zero line still has a scale', () => {
  assert.equal(chartMax(points, [{ key: 'latency_ms_p50', label: '' }]), 800);
  assert.equal(chartMax([{ fallbacks: 0 }], [{ key: 'fallbacks', label: '' }]), 1);
});

test('the y axis has round ticks from 0 past the largest value, whole numbers for counts', () => {
  assert.deepEqual(niceTicks(800), [0, 200, 400, 600, 800]);
  assert.deepEqual(niceTicks(812), [0, 500, 1000]);
  assert.deepEqual(niceTicks(37.5), [0, 10, 20, 30, 40]);
  assert.deepEqual(niceTicks(0.7), [0, 0.2, 0.4, 0.6, 0.8]); // no 0.6000000000000001
  assert.deepEqual(niceTicks(1, true), [0, 1]); // a flat zero line: 0 and 1, never 0.25
  assert.deepEqual(niceTicks(3, true), [0, 1, 2, 3]);
  assert.deepEqual(niceTicks(0), [0, 0.5, 1]);
  assert.deepEqual(['0.25', '40', '850', '1.2k', '2k', '12k'], [0.25, 40, 850, 1200, 2000, 12_000].map(formatTick));
});

test('the x axis labels round clock times that fit: every 5 min over half an hour', () => {
  const halfHour = Array.from({ length: 180 }, (_, i) => at('14:00:10') + i * 10_000); // 14:00:10 .. 14:30:00
  assert.deepEqual(
    timeTicks(halfHour, 256).map(t => t.label),
    ['14:05', '14:10', '14:15', '14:20', '14:25', '14:30']
  );
  const first = timeTicks(halfHour, 256)[0];
  assert.equal(halfHour[first.index], at('14:05:00'));
  // a narrower plot: fewer labels, still on round times
  assert.deepEqual(
    timeTicks(halfHour, 120).map(t => t.label),
    ['14:10', '14:20', '14:30']
  );
  // the first minute: seconds
  const minute = Array.from({ length: 6 }, (_, i) => at('09:41:00') + i * 10_000);
  assert.deepEqual(
    timeTicks(minute, 256).map(t => t.label),
    ['09:41:00', '09:41:20', '09:41:40']
  );
  assert.deepEqual(timeTicks([at('09:41:10')], 256), [{ index: 0, label: '09:41:10' }]);
  assert.deepEqual(timeTicks([at('09:41:13')], 256), [{ index: 0, label: '09:41:13' }]); // off the round times
  assert.deepEqual(timeTicks([], 256), []);
  assert.equal(clockTime(at('23:05:09')), '23:05');
});

test('an interval without a value breaks the line; a value with no neighbour is a dot', () => {
  const { d, drawn, dots } = linePath(points, 'latency_ms_p50', 800, area);
  assert.equal(drawn, 3);
  assert.equal(d, 'M3.0,3.0 M69.7,28.0 L103.0,40.5');
  assert.deepEqual(dots, [{ index: 0, x: 3, y: 3 }]); // 800, alone before the gap
  assert.equal(latest(points, 'latency_ms_p50'), 200);
  assert.equal(latest([{ x: null }], 'x'), null);
  assert.equal(total(points, 'fallbacks'), 1);
});

test('a single answer in the series is drawn, as a dot in the middle', () => {
  const { d, drawn, dots } = linePath([{ tokens_per_s: 20 }], 'tokens_per_s', 40, area);
  assert.equal(d, 'M53.0,28.0');
  assert.equal(drawn, 1);
  assert.deepEqual(dots, [{ index: 0, x: 53, y: 28 }]);
  assert.deepEqual(linePath([{ x: null }, { x: 5 }, { x: null }], 'x', 10, area).dots.map(p => p.index), [1]);
});

test('fallbacks and repairs share a chart, each a line of the legend', () => {
  const chart = CHARTS.find(c => c.lines.some(l => l.key === 'repairs'));
  assert.deepEqual(chart?.lines.map(l => l.key), ['fallbacks', 'repairs']);
  assert.ok(chart?.perInterval && chart.counts);
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
