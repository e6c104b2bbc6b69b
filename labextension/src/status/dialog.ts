/**
 * The body of the "NEXUS: Show status" dialog: a Components table, a Models table (each task's chain
 * in order, each step marked), the missing-key sentence, storage and MCP servers. The words are
 * ``model.ts``'s; this file only builds elements from them.
 */
import { Widget } from '@lumino/widgets';

import type { IStatusReply } from '../api';
import { chainRows, componentRows, heading, mcpLines, missingKeySentence, storageLine } from './model';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) {
    node.textContent = text;
  }
  if (className) {
    node.className = className;
  }
  return node;
}

function table(caption: string, columns: string[], rows: HTMLTableRowElement[]): HTMLElement {
  const node = el('table', undefined, 'jp-nexus-status-table');
  node.setAttribute('aria-label', caption);
  const head = node.createTHead().insertRow();
  for (const column of columns) {
    head.appendChild(el('th', column));
  }
  const body = node.createTBody();
  rows.forEach(row => body.appendChild(row));
  return node;
}

function componentsTable(status: IStatusReply): HTMLElement {
  const rows = componentRows(status).map(c => {
    const row = el('tr');
    row.appendChild(el('td', c.name));
    const state = el('td');
    const dot = el('span', c.stateLabel, 'jp-nexus-status-state');
    dot.dataset.state = c.state;
    state.appendChild(dot);
    row.appendChild(state);
    row.appendChild(el('td', c.detail, 'jp-nexus-status-detail'));
    return row;
  });
  return table('Components', ['Component', 'State', 'Detail'], rows);
}

function modelsTable(status: IStatusReply): HTMLElement {
  const rows = chainRows(status).map(route => {
    const row = el('tr');
    const task = el('td', route.label);
    task.title = route.task;
    row.appendChild(task);
    const chain = el('ol', undefined, 'jp-nexus-status-chain');
    for (const step of route.steps) {
      const item = el('li');
      item.title = step.title;
      item.dataset.mark = step.mark;
      item.appendChild(el('code', step.label));
      item.appendChild(el('span', step.markLabel, 'jp-nexus-status-mark'));
      if (step.answers) {
        item.appendChild(el('span', 'answers', 'jp-nexus-status-answers'));
      }
      chain.appendChild(item);
    }
    const cell = el('td');
    cell.appendChild(chain);
    row.appendChild(cell);
    return row;
  });
  return table('Models', ['Task', 'Models tried in order'], rows);
}

export function statusBody(status: IStatusReply): Widget {
  const body = new Widget();
  const node = body.node;
  node.className = 'jp-nexus-status';
  node.appendChild(el('p', heading(status), 'jp-nexus-status-heading'));
  const sentence = missingKeySentence(status);
  if (sentence) {
    node.appendChild(el('p', sentence, 'jp-nexus-status-keys'));
  }
  node.appendChild(el('h3', 'Components'));
  node.appendChild(componentsTable(status));
  node.appendChild(el('h3', 'Models'));
  node.appendChild(modelsTable(status));
  node.appendChild(el('h3', 'Storage'));
  node.appendChild(el('p', storageLine(status)));
  node.appendChild(el('h3', 'MCP servers'));
  const servers = mcpLines(status);
  if (servers.length) {
    const list = el('ul');
    servers.forEach(line => list.appendChild(el('li', line)));
    node.appendChild(list);
  } else {
    node.appendChild(el('p', 'None: an administrator lists them in the server configuration.'));
  }
  return body;
}

/** What the dialog shows when the server did not answer. */
export function unreachableBody(message: string): Widget {
  const body = new Widget();
  body.node.className = 'jp-nexus-status';
  body.node.appendChild(el('p', message));
  return body;
}
