import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import type { IVoiceReply } from '../src/api';
import { IVoiceEffects, performVoiceReply } from '../src/voice/perform';

type Heard = Pick<IVoiceReply, 'text' | 'command'>;

/** What the server answers for each utterance (its mapper's decision on the builtin command registry;
 * tests/voice/test_mapper.py checks the server still decides exactly this). */
const REPLIES = JSON.parse(readFileSync(join(__dirname, '..', '..', 'test', 'fixtures', 'voice-replies.json'), 'utf8')) as Record<string, Heard>;

/** JupyterLab as the button sees it: the commands it has (each records that it ran), the dialog's
 * answer, the chat prompt and the notifications. */
class Lab implements IVoiceEffects {
  ran: string[] = [];
  asked: [string, string][] = [];
  prompt = '';
  notes: string[] = [];
  constructor(
    private answer: boolean,
    private ids = ['notebook:run-all-cells', 'notebook:run-cell', 'notebook:delete-cell', 'kernelmenu:restart']
  ) {}
  hasCommand(id: string): boolean {
    return this.ids.includes(id);
  }
  async execute(id: string): Promise<unknown> {
    assert.ok(this.hasCommand(id), `no command ${id}`);
    this.ran.push(id);
    return undefined;
  }
  async runServerCommand(name: string, text: string | null): Promise<{ result?: unknown }> {
    this.ran.push(`server:${name}:${text}`);
    return { result: 'done' };
  }
  async confirm(title: string, body: string): Promise<boolean> {
    this.asked.push([title, body]);
    return this.answer;
  }
  setPrompt(text: string): void {
    this.prompt = text;
  }
  notify(_kind: 'info' | 'success', message: string): void {
    this.notes.push(message);
  }
}

test('a recognised command that changes nothing runs at once, without a dialog', async () => {
  for (const [said, id] of [
    ['run all cells', 'notebook:run-all-cells'],
    ['run this cell', 'notebook:run-cell']
  ]) {
    const lab = new Lab(false);
    assert.equal(await performVoiceReply(REPLIES[said], lab), 'ran');
    assert.deepEqual(lab.ran, [id]);
    assert.deepEqual(lab.asked, []);
    assert.deepEqual(lab.notes, [`Heard: “${said}”`]);
  }
});

test('a destructive command asks first: Cancel runs nothing, Run runs it', async () => {
  for (const [said, id, title] of [
    ['delete this cell', 'notebook:delete-cell', 'Delete cell'],
    ['restart the kernel', 'kernelmenu:restart', 'Restart kernel']
  ]) {
    assert.equal(REPLIES[said].command?.command?.destructive, true, said);
    const cancelled = new Lab(false);
    assert.equal(await performVoiceReply(REPLIES[said], cancelled), 'cancelled');
    assert.deepEqual(cancelled.asked, [[`Run “${title}”?`, `You said “${said}”. This command changes your work.`]]);
    assert.deepEqual(cancelled.ran, []);

    const confirmed = new Lab(true);
    assert.equal(await performVoiceReply(REPLIES[said], confirmed), 'ran');
    assert.equal(confirmed.asked.length, 1);
    assert.deepEqual(confirmed.ran, [id]);
  }
});

test('a command heard with doubt asks too, and says why', async () => {
  const unsure = REPLIES['run this tail'];
  assert.equal(unsure.command?.action, 'confirm');
  const lab = new Lab(false);
  assert.equal(await performVoiceReply(unsure, lab), 'cancelled');
  assert.match(lab.asked[0][1], /^You said “run this tail”\. NEXUS is not sure it heard you right\.$/);
  assert.deepEqual(lab.ran, []);
});

test('a command JupyterLab lacks, and chatter, go into the prompt; nothing runs', async () => {
  const lab = new Lab(true, []);
  assert.equal(await performVoiceReply(REPLIES['run all cells'], lab), 'prompted');
  assert.equal(lab.prompt, 'run all cells');
  const chatter = new Lab(true);
  assert.equal(await performVoiceReply(REPLIES['what time is it'], chatter), 'prompted');
  assert.equal(chatter.prompt, 'what time is it');
  assert.deepEqual([...lab.ran, ...chatter.ran, ...lab.asked, ...chatter.asked], []);
  const silence = new Lab(true);
  assert.equal(await performVoiceReply({ text: ' ', command: null }, silence), 'nothing');
  assert.deepEqual(silence.ran, []);
});
