import { strict as assert } from 'node:assert';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';

import { PageConfig } from '@jupyterlab/coreutils';

import { IReviewEffects, Placement, reviewProposal } from '../src/ai/review';
import { reportFeedback } from '../src/feedback';

/** What reached the server: the real ``sendFeedback`` posts over HTTP, here to a local server standing in
 * for Jupyter's (tests/handlers/test_action_feedback.py posts the same body to a real one). */
interface IPosted {
  method: string;
  path: string;
  auth: string | undefined;
  body: unknown;
}

let server: Server;
const posted: IPosted[] = [];

before(async () => {
  server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', chunk => (text += chunk));
    req.on('end', () => {
      posted.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0], auth: req.headers.authorization, body: JSON.parse(text || 'null') });
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id: posted.length, interaction_id: 42, kind: 'rejected', example_saved: false }));
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  PageConfig.setOption('baseUrl', `http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  PageConfig.setOption('token', 'lab-token');
});

after(() => server.close());

async function posts(count: number): Promise<IPosted[]> {
  for (let i = 0; i < 200 && posted.length < count; i++) {
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  return posted.splice(0);
}

const ORIGINAL = 'x=[]\nfor i in range(3):\n    x.append(i*i)\n';
const REFACTOR = {
  code: 'x = [i * i for i in range(3)]\n',
  valid: true,
  explanation: 'A list comprehension.',
  provider: 'openai',
  model: 'gpt-4o-mini',
  interaction_id: 42
};

/** The user answers the diff with ``accept``; what was shown and applied is kept. */
function user(accept: boolean): IReviewEffects & { shown: string[][]; applied: [string, Placement, string][]; warned: string[] } {
  const shown: string[][] = [];
  const applied: [string, Placement, string][] = [];
  const warned: string[] = [];
  return {
    shown,
    applied,
    warned,
    review: async (title, before, after, note) => (shown.push([title, before, after, note]), accept),
    apply: async (code, placement, model) => void applied.push([code, placement, model]),
    warn: message => void warned.push(message),
    report: reportFeedback
  };
}

test('Reject leaves the cell alone and tells the learning system the answer was rejected', async () => {
  const effects = user(false);
  assert.equal(await reviewProposal('Refactor', REFACTOR, 'replace', ORIGINAL, effects), 'rejected');
  assert.deepEqual(effects.shown, [['Refactor', ORIGINAL, REFACTOR.code, 'A list comprehension.\nModel: openai/gpt-4o-mini']]);
  assert.deepEqual(effects.applied, []);
  assert.deepEqual(await posts(1), [
    { method: 'POST', path: '/nexus/api/v1/feedback', auth: 'token lab-token', body: { interaction_id: 42, kind: 'rejected' } }
  ]);
});

test('Accept applies the code and reports it accepted', async () => {
  const effects = user(true);
  assert.equal(await reviewProposal('Write tests', { ...REFACTOR, code: 'def test_x():\n    assert x == [0, 1, 4]\n' }, 'below', ORIGINAL, effects), 'accepted');
  assert.equal(effects.shown[0][1], ''); // below: the diff shows only what is added
  assert.deepEqual(effects.applied, [['def test_x():\n    assert x == [0, 1, 4]\n', 'below', 'openai/gpt-4o-mini']]);
  assert.deepEqual((await posts(1)).map(p => p.body), [{ interaction_id: 42, kind: 'accepted' }]);
});

test('no edit is offered, and nothing reported, for a proposal that changes nothing', async () => {
  const effects = user(true);
  assert.equal(await reviewProposal('Refactor', { ...REFACTOR, code: ORIGINAL }, 'replace', ORIGINAL, effects), 'not_offered');
  assert.deepEqual(effects.shown, []);
  assert.match(effects.warned[0], /^NEXUS Refactor: the model proposed no change, so there is nothing to accept \(model openai\/gpt-4o-mini\)\.$/);
  assert.deepEqual(await posts(0), []);
});

test('an answer the server did not record (no interaction id) is not reported', async () => {
  const effects = user(false);
  assert.equal(await reviewProposal('Refactor', { ...REFACTOR, interaction_id: null }, 'replace', ORIGINAL, effects), 'rejected');
  await new Promise(resolve => setTimeout(resolve, 50));
  assert.deepEqual(posted, []);
});
