/**
 * The agent turn card in the chat: goal, state badge, the model's words
 * (rendered like chat answers: Markdown, untrusted, neutralised), the steps
 * with an approval card for the one that waits, Stop and Undo. ``update()``
 * redraws from ``AgentTurn.view()`` in place, keyed by step, so a reason being
 * typed or the focus on a button survives the frames that stream in.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { editIcon, LabIcon, runIcon, searchIcon } from '@jupyterlab/ui-components';

import type { AgentDecision, AgentToolKind } from '../api';
import { button } from '../chat/footer';
import { ICodeActions, MessageView } from '../chat/message';
import { IUnifiedDiff, unifiedSummary } from './diff';
import type { AgentTurn, IStepView, Segment } from './turn';

/** What the card's buttons do (``AgentTurns`` sends the frames). */
export interface ITurnCardActions {
  decide(stepId: string, decision: AgentDecision, reason: string | null): void;
  stop(): void;
  undo(): void;
}

const KINDS: Record<AgentToolKind, [LabIcon, string]> = {
  read: [searchIcon, 'Reads'],
  edit: [editIcon, 'Edits the notebook'],
  run: [runIcon, 'Runs code']
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A unified diff as rows: line number, +/− mark, text; additions and deletions coloured. */
export function renderUnifiedDiff(diff: IUnifiedDiff): HTMLElement {
  const node = el('div', 'jp-nexus-diff jp-nexus-agent-diff');
  node.setAttribute('role', 'table');
  node.setAttribute('aria-label', `${diff.title || 'Change'}: ${diff.added} lines added, ${diff.removed} removed`);
  for (const line of diff.lines) {
    if (line.kind === 'hunk' && diff.lines.length > 0 && line === diff.lines[0]) {
      continue; // the first hunk header says nothing the line numbers do not
    }
    const row = el('div', `jp-nexus-diff-line jp-mod-${line.kind}`);
    row.setAttribute('role', 'row');
    const number = el('span', 'jp-nexus-diff-number', String(line.newLine ?? line.oldLine ?? ''));
    const mark = el('span', 'jp-nexus-diff-mark', line.kind === 'add' ? '+' : line.kind === 'del' ? '−' : ' ');
    mark.setAttribute('aria-label', line.kind === 'add' ? 'added' : line.kind === 'del' ? 'removed' : '');
    const text = el('span', 'jp-nexus-diff-text', line.kind === 'hunk' || line.kind === 'note' ? line.text : line.text || ' ');
    row.append(number, mark, text);
    node.appendChild(row);
  }
  return node;
}

function codeBlock(code: string, cls = 'jp-nexus-agent-code'): HTMLElement {
  const pre = el('pre', cls);
  pre.textContent = code;
  return pre;
}

/** The change or the code a step would make, under a one-line heading. */
function preview(step: IStepView): HTMLElement[] {
  if (step.diff) {
    const head = el('div', 'jp-nexus-agent-preview-title');
    head.append(el('span', '', step.diff.title || 'Change'), el('span', 'jp-nexus-agent-diff-size', unifiedSummary(step.diff)));
    return [head, renderUnifiedDiff(step.diff)];
  }
  if (step.code !== null) {
    return [codeBlock(step.code)];
  }
  return [];
}

/** The approval card of a waiting step: what it would do, Approve / Reject (with a reason) / Approve rest. */
class ApprovalCard {
  readonly node = el('div', 'jp-nexus-agent-approval');

  constructor(step: IStepView, decide: (decision: AgentDecision, reason: string | null) => void) {
    const question = step.kind === 'run' ? 'Run this code?' : 'Apply this change?';
    this.node.tabIndex = 0;
    this.node.setAttribute('role', 'group');
    this.node.setAttribute('aria-label', `The agent asks: ${question} ${step.summary}`);
    this.node.dataset.stepId = step.id;
    const title = el('div', 'jp-nexus-agent-approval-title', question);
    this._reason.type = 'text';
    this._reason.className = 'jp-nexus-agent-reason-input';
    this._reason.placeholder = 'Reason to reject (optional)';
    this._reason.title = 'Why you reject this step: the agent reads it';
    this._reason.setAttribute('aria-label', 'Reason for rejecting (optional)');
    this._reason.maxLength = 2000;
    this._reason.addEventListener('keydown', ev => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        ev.stopPropagation();
        this._reject.click();
      }
    });
    const what = step.kind === 'run' ? 'run this code' : 'apply this change';
    this._approve = button('Approve', `Approve: ${what}`, 'jp-mod-approve jp-mod-accept');
    this._approve.textContent = 'Approve';
    this._reject = button('Reject', 'Reject: nothing changes; the reason goes to the agent', 'jp-mod-reject');
    this._reject.textContent = 'Reject';
    this._rest = button('Approve rest of turn', 'Approve rest of turn: this step and every later one', 'jp-mod-approve-rest');
    this._rest.textContent = 'Approve rest of turn';
    this._approve.addEventListener('click', () => decide('approve', null));
    this._reject.addEventListener('click', () => decide('reject', this._reason.value.trim() || null));
    this._rest.addEventListener('click', () => decide('approve_rest', null));
    const buttons = el('div', 'jp-nexus-agent-approval-buttons');
    buttons.append(this._approve, this._reject, this._rest);
    this.node.append(title, ...preview(step), this._reason, buttons);
  }

  update(step: IStepView): void {
    for (const b of [this._approve, this._reject, this._rest]) {
      b.disabled = step.busy;
    }
    this._reason.disabled = step.busy;
    this.node.setAttribute('aria-busy', String(step.busy));
  }

  private _reason = document.createElement('input');
  private _approve: HTMLButtonElement;
  private _reject: HTMLButtonElement;
  private _rest: HTMLButtonElement;
}

/** One step: icon, summary, status; its approval card while it waits, else its details folded. */
class StepRow {
  readonly node = el('div', 'jp-nexus-agent-step');

  constructor(
    step: IStepView,
    private decide: (stepId: string, decision: AgentDecision, reason: string | null) => void
  ) {
    const [icon, kindLabel] = KINDS[step.kind] ?? KINDS.read;
    const head = el('div', 'jp-nexus-agent-step-head');
    const iconNode = icon.element({ tag: 'span', className: 'jp-nexus-agent-step-icon' });
    iconNode.title = kindLabel;
    iconNode.setAttribute('aria-label', kindLabel);
    iconNode.setAttribute('role', 'img');
    head.append(iconNode, this._summary, this._status);
    this.node.append(head, this._note);
    this.node.dataset.stepId = step.id;
    this.node.dataset.kind = step.kind;
  }

  update(step: IStepView): void {
    this.node.dataset.status = step.status;
    this._summary.textContent = step.summary;
    this._summary.title = `${step.tool} ${JSON.stringify(step.arguments)}`.slice(0, 500);
    this._status.textContent = step.statusLabel;
    let note = '';
    if (step.status === 'rejected') {
      note = step.reason ? `Your reason: ${step.reason}` : 'No reason given';
    } else if (step.status === 'failed' && step.result) {
      note = step.result.length > 300 ? `${step.result.slice(0, 299)}…` : step.result;
    } else if (step.approvedBy === 'auto' && step.kind !== 'read') {
      note = 'Applied without asking (approval mode)';
    }
    this._note.textContent = note;
    this._note.hidden = !note;
    if (step.awaiting) {
      this._details?.remove();
      this._details = null;
      this._signature = '';
      if (!this._approval) {
        this._approval = new ApprovalCard(step, (decision, reason) => this.decide(step.id, decision, reason));
        this.node.appendChild(this._approval.node);
        this._focusApproval();
      }
      this._approval.update(step);
      return;
    }
    this._approval?.node.remove();
    this._approval = null;
    this._showDetails(step);
  }

  private _showDetails(step: IStepView): void {
    const signature = JSON.stringify([step.diff?.lines.length, step.code, step.result]);
    if (signature === this._signature) {
      return;
    }
    this._signature = signature;
    const parts = preview(step);
    if (step.result) {
      parts.push(el('div', 'jp-nexus-agent-result-title', step.kind === 'run' ? 'Output' : 'Result'));
      parts.push(codeBlock(step.result, 'jp-nexus-agent-result'));
    }
    if (!parts.length) {
      this._details?.remove();
      this._details = null;
      return;
    }
    const what = step.kind === 'run' ? 'code and output' : step.diff ? 'change' : 'result';
    if (!this._details) {
      const details = el('details', 'jp-nexus-agent-step-details');
      details.addEventListener('toggle', () => {
        const summary = details.querySelector('summary');
        if (summary) {
          summary.textContent = `${details.open ? 'Hide' : 'Show'} ${summary.dataset.what}`;
        }
      });
      this._details = details;
      this.node.appendChild(details);
    }
    const summary = el('summary', '', `${this._details.open ? 'Hide' : 'Show'} ${what}`);
    summary.dataset.what = what;
    this._details.replaceChildren(summary, ...parts);
  }

  /** Focus the new approval card when the user is in the chat (never steal it from the notebook). */
  private _focusApproval(): void {
    const card = this._approval?.node;
    requestAnimationFrame(() => {
      if (!card || !card.isConnected) {
        return;
      }
      const active = document.activeElement;
      const chat = card.closest('.jp-nexus-chat');
      if (!active || active === document.body || (chat && chat.contains(active))) {
        card.focus({ preventScroll: true });
      }
      card.scrollIntoView({ block: 'nearest' });
    });
  }

  private _summary = el('span', 'jp-nexus-agent-step-summary');
  private _status = el('span', 'jp-nexus-agent-step-status');
  private _note = el('div', 'jp-nexus-agent-step-note');
  private _approval: ApprovalCard | null = null;
  private _details: HTMLDetailsElement | null = null;
  private _signature = '';
}

export class AgentTurnCard {
  readonly node = el('section', 'jp-nexus-agent-turn');

  constructor(
    private turn: AgentTurn,
    private rendermime: IRenderMimeRegistry,
    private codeActions: ICodeActions,
    private actions: ITurnCardActions
  ) {
    const head = el('div', 'jp-nexus-agent-head');
    const title = el('span', 'jp-nexus-agent-title', 'Agent');
    this._notebook.className = 'jp-nexus-agent-notebook';
    this._badge.className = 'jp-nexus-agent-badge';
    this._badge.setAttribute('role', 'status');
    head.append(title, this._notebook, this._badge);
    this._goal.className = 'jp-nexus-agent-goal';
    this._goal.textContent = turn.goal;
    this._body.className = 'jp-nexus-agent-body';
    this._body.setAttribute('aria-live', 'polite');
    this._reason.className = 'jp-nexus-agent-reason';
    this._undoMessage.className = 'jp-nexus-agent-undo-message';
    this._error.className = 'jp-nexus-agent-error';
    this._error.setAttribute('role', 'alert');
    this._stop = button('Stop', 'Stop the agent now (a running cell is interrupted)', 'jp-nexus-agent-stop jp-mod-warn');
    this._stop.textContent = 'Stop';
    this._stop.addEventListener('click', () => this.actions.stop());
    this._undo = button('Undo this turn', "Undo this turn: put the notebook's cells and the kernel's variables back", 'jp-nexus-agent-undo');
    this._undo.textContent = 'Undo this turn';
    this._undo.addEventListener('click', () => this.actions.undo());
    const footer = el('div', 'jp-nexus-agent-footer');
    this._meta.className = 'jp-nexus-agent-meta';
    footer.append(this._meta, this._stop, this._undo);
    this.node.setAttribute('aria-label', `Agent turn: ${turn.goal}`);
    this.node.append(head, this._goal, this._body, this._reason, this._undoMessage, this._error, footer);
    this.update();
  }

  update(): void {
    const view = this.turn.view();
    this.node.dataset.state = view.state;
    if (this.turn.id) {
      this.node.dataset.runId = this.turn.id;
    }
    this._notebook.textContent = view.notebook.split('/').pop() ?? view.notebook;
    this._notebook.title = view.notebook;
    this._badge.textContent = view.label;
    this._badge.className = `jp-nexus-agent-badge jp-mod-${view.tone}`;
    this._drawSegments(view.segments);
    const failed = view.state === 'failed';
    this._reason.textContent = view.reason && view.state !== 'done' ? view.reason : '';
    this._reason.classList.toggle('jp-mod-error', failed);
    this._reason.hidden = !this._reason.textContent;
    this._undoMessage.textContent = view.undoMessage ?? '';
    this._undoMessage.hidden = !view.undoMessage;
    this._error.textContent = view.error ?? '';
    this._error.hidden = !view.error;
    this._meta.textContent = view.meta.replace(/(\d) (?=s\b|steps?\b)/g, '$1\u00a0'); // "1.9 s" on one line
    this._stop.hidden = !view.canStop;
    this._stop.disabled = view.stopBusy;
    this._stop.textContent = view.stopBusy ? 'Stopping…' : 'Stop';
    this._undo.hidden = !view.canUndo;
    this._undo.disabled = view.undoBusy;
    this._undo.textContent = view.undoBusy ? 'Undoing…' : 'Undo this turn';
  }

  /** Put the segments in order, reusing the node of each (by key). */
  private _drawSegments(segments: Segment[]): void {
    const seen = new Set<string>();
    segments.forEach((segment, i) => {
      seen.add(segment.key);
      let node: HTMLElement;
      if (segment.kind === 'text') {
        let text = this._texts.get(segment.key);
        if (!text) {
          text = new MessageView('assistant', this.rendermime, this.codeActions);
          text.node.className = 'jp-nexus-message jp-nexus-agent-text'; // not a chat answer
          this._texts.set(segment.key, text);
        }
        void text.setMarkdown(segment.text);
        node = text.node;
      } else {
        let row = this._steps.get(segment.key);
        if (!row) {
          row = new StepRow(segment.step, (stepId, decision, reason) => this.actions.decide(stepId, decision, reason));
          this._steps.set(segment.key, row);
        }
        node = row.node;
        if (this._body.children[i] !== node) {
          this._body.insertBefore(node, this._body.children[i] ?? null);
        }
        row.update(segment.step);
        return;
      }
      if (this._body.children[i] !== node) {
        this._body.insertBefore(node, this._body.children[i] ?? null);
      }
    });
    for (const [key, view] of this._texts) {
      if (!seen.has(key)) {
        view.node.remove();
        this._texts.delete(key);
      }
    }
    for (const [key, row] of this._steps) {
      if (!seen.has(key)) {
        row.node.remove();
        this._steps.delete(key);
      }
    }
  }

  private _notebook = document.createElement('span');
  private _badge = document.createElement('span');
  private _goal = document.createElement('div');
  private _body = document.createElement('div');
  private _reason = document.createElement('div');
  private _undoMessage = document.createElement('div');
  private _error = document.createElement('div');
  private _meta = document.createElement('span');
  private _stop: HTMLButtonElement;
  private _undo: HTMLButtonElement;
  private _texts = new Map<string, MessageView>();
  private _steps = new Map<string, StepRow>();
}
