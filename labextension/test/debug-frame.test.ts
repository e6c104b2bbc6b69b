import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { explainPausedFrame, frameLocation, framePrompt, IFrameScope, IPausedDebugger, IPausedFrame } from '../src/debug/frame';

/** A frame and its scopes as JupyterLab's debugger model holds them (ipykernel + debugpy), paused in a
 * cell's function, and the question the panel asks about them. tests/chat/test_paused_frame.py sends
 * this same question through a real server and checks the model is told the line and the variables. */
const FIXTURE = JSON.parse(readFileSync(join(__dirname, '..', '..', 'test', 'fixtures', 'paused-frame.json'), 'utf8')) as {
  frame: IPausedFrame;
  scopes: IFrameScope[];
  prompt: string;
};

function paused(frame: IPausedFrame | null, scopes: IFrameScope[] = FIXTURE.scopes): IPausedDebugger {
  return { callstack: { frame }, variables: { scopes } };
}

test('the question names the function, the line and the cell, and lists the variables innermost first', () => {
  const prompt = framePrompt(FIXTURE.frame, FIXTURE.scopes);
  assert.equal(prompt, FIXTURE.prompt);
  assert.ok(prompt.startsWith('/explain The debugger is paused in area() at line 3 of the cell.'));
  // debugpy's groups, IPython's history and modules are left out; a user's own _name is kept
  for (const hidden of ['special variables', 'In:', 'Out:', '_i2', '__name__', 'np:']) {
    assert.ok(!prompt.includes(hidden), hidden);
  }
  assert.ok(prompt.includes('Globals._cache: dict'));
  // no machine path reaches the model
  assert.ok(!prompt.includes('/tmp/'));
});

test('a paused frame is asked about once, in the chat; nothing is asked when nothing is paused', async () => {
  const asked: string[] = [];
  const ask = async (text: string) => void asked.push(text);
  assert.equal(await explainPausedFrame(paused(FIXTURE.frame), ask), FIXTURE.prompt);
  assert.deepEqual(asked, [FIXTURE.prompt]);

  assert.equal(await explainPausedFrame(paused(null), ask), null);
  assert.equal(await explainPausedFrame(null, ask), null);
  assert.equal(await explainPausedFrame(paused(FIXTURE.frame), null), null); // no chat panel
  assert.equal(asked.length, 1);
});

test('a module file is named, not its path; a cell top level has no function; a variable shows once', () => {
  assert.equal(frameLocation({ name: 'load', line: 12, source: { path: '/home/ada/project/utils.py' } }), 'in load() at line 12 of utils.py');
  assert.equal(frameLocation({ name: '<module>', line: 2, source: { path: '/tmp/ipykernel_7/123.py' } }), 'at line 2 of the cell');
  assert.equal(frameLocation({ name: 'f', line: 1 }), 'in f() at line 1 of an unknown file');
  const top = framePrompt({ name: '<module>', line: 2 }, [
    { name: 'Locals', variables: [{ name: 'x', type: 'int', value: '1' }] },
    { name: 'Globals', variables: [{ name: 'x', type: 'int', value: '1' }] }
  ]);
  assert.deepEqual(top.split('\n').slice(1), ['Variables:', 'Locals.x: int = 1']);
  assert.ok(framePrompt({ name: 'f', line: 1 }, []).endsWith('Variables:\n(none)'));
});

test('long and many values are cut', () => {
  const many = Array.from({ length: 60 }, (_, i) => ({ name: `v${i}`, type: 'str', value: 'x'.repeat(500) }));
  const lines = framePrompt({ name: 'f', line: 1 }, [{ name: 'Locals', variables: many }]).split('\n').slice(2);
  assert.equal(lines.length, 40);
  assert.equal(lines[0], `Locals.v0: str = ${'x'.repeat(200)}`);
});
