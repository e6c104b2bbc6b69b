/**
 * NEXUS as a JupyterLab inline completion provider (ghost text; Tab
 * accepts). Requests go over the NEXUS websocket through ``CompletionSession``:
 * debounced, streamed, and a superseded request is cancelled on the server.
 * In a notebook the earlier code cells go with the request: the model sees the
 * imports and the DataFrame the cell is about.
 */
import {
  CompletionHandler,
  IInlineCompletionContext,
  IInlineCompletionItem,
  IInlineCompletionList,
  IInlineCompletionProvider
} from '@jupyterlab/completer';
import { NotebookPanel } from '@jupyterlab/notebook';

import { newRequestId } from '../socket';
import type { INexusClient } from '../tokens';
import { CompletionSession } from './session';

/** Earlier cells sent with a request: the most recent ones, up to this many characters in all. */
const CONTEXT_CHARS = 4000;

/** The code cells above the active one, oldest first, as many of the most recent as fit. */
export function earlierCells(panel: NotebookPanel): string[] {
  const notebook = panel.content;
  const cells: string[] = [];
  let room = CONTEXT_CHARS;
  for (let i = notebook.activeCellIndex - 1; i >= 0 && room > 0; i--) {
    const cell = notebook.widgets[i];
    if (cell?.model.type !== 'code') {
      continue;
    }
    const source = cell.model.sharedModel.getSource();
    if (!source.trim()) {
      continue;
    }
    if (source.length > room) {
      break;
    }
    cells.unshift(source);
    room -= source.length;
  }
  return cells;
}

export class NexusInlineProvider implements IInlineCompletionProvider {
  readonly identifier = 'nexus';
  readonly name = 'NEXUS';
  /** JupyterLab's own per-provider settings: on by default, no extra debounce (NEXUS debounces itself). */
  readonly schema = {
    default: { enabled: true, debouncerDelay: 0, timeout: 60000, autoFillInMiddle: true }
  };

  constructor(client: INexusClient) {
    this.session = new CompletionSession(client, () => newRequestId('complete'));
  }

  readonly session: CompletionSession;
  enabled = true;

  async fetch(request: CompletionHandler.IRequest, context: IInlineCompletionContext): Promise<IInlineCompletionList> {
    if (!this.enabled) {
      return { items: [] };
    }
    const prefix = request.text.slice(0, request.offset);
    const suffix = request.text.slice(request.offset);
    const widget = context.widget;
    const path = widget instanceof NotebookPanel ? widget.context.path : ((widget as { context?: { path?: string } }).context?.path ?? null);
    const language = request.mimeType && !request.mimeType.includes('python') ? request.mimeType.replace(/^text\/(x-)?/, '') : 'python';
    const cells = widget instanceof NotebookPanel ? earlierCells(widget) : [];
    const id = await this.session.start(prefix, suffix, language || 'python', path, cells);
    if (id === null) {
      return { items: [] };
    }
    return { items: [{ insertText: '', isIncomplete: true, token: id }] };
  }

  async *stream(token: string): AsyncGenerator<{ response: IInlineCompletionItem }> {
    for await (const update of this.session.updates(token)) {
      yield {
        response: {
          insertText: update.text,
          token,
          isIncomplete: !update.done,
          error: update.error ? { message: update.error } : undefined
        }
      };
    }
  }
}
