/**
 * AI actions on cells and editors: Generate from a prompt, Explain, Refactor,
 * Add docstring, Write tests. Each edit is shown as a diff first and only
 * Accept changes the notebook; nothing is run. Accept and Reject are reported
 * to the learning system as feedback on the answer.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, Notification } from '@jupyterlab/apputils';

import { generate, IGenerateReply, NexusAPIError } from '../api';
import { reportFeedback } from '../feedback';
import type { INexusChat } from '../tokens';
import type { Workspace } from '../workspace';
import { reviewChange } from './diffview';

export namespace AICommandIDs {
  export const generate = 'nexus:generate-code';
  export const explain = 'nexus:explain-code';
  export const refactor = 'nexus:refactor-code';
  export const docstring = 'nexus:add-docstring';
  export const tests = 'nexus:write-tests';
}

type Placement = 'replace' | 'below';

interface IEditAction {
  id: string;
  label: string;
  caption: string;
  prompt: string;
  placement: Placement;
}

const EDITS: IEditAction[] = [
  {
    id: AICommandIDs.refactor,
    label: 'Refactor',
    caption: 'Rewrite this code to be clearer, keeping its behaviour',
    prompt: 'Refactor this code to be clearer and more idiomatic. Keep its behaviour exactly the same.',
    placement: 'replace'
  },
  {
    id: AICommandIDs.docstring,
    label: 'Add docstring',
    caption: 'Add docstrings to the functions and classes in this code',
    prompt: 'Add a concise docstring to every function and class in this code. Change nothing else.',
    placement: 'replace'
  },
  {
    id: AICommandIDs.tests,
    label: 'Write tests',
    caption: 'Write pytest tests for this code in a new cell below',
    prompt: 'Write pytest unit tests for this code. Reply with the test code only.',
    placement: 'below'
  }
];

function failed(action: string, err: unknown): void {
  const message = err instanceof NexusAPIError ? err.message : (err as Error).message;
  Notification.error(`NEXUS ${action}: ${message}`, { autoClose: 8000 });
}

async function withProgress<T>(label: string, work: Promise<T>): Promise<T> {
  const id = Notification.emit(`NEXUS: ${label}…`, 'in-progress', { autoClose: false });
  try {
    return await work;
  } finally {
    Notification.dismiss(id);
  }
}

/** Apply ``reply`` to the active cell/editor after the user accepts the diff. */
async function propose(workspace: Workspace, title: string, reply: IGenerateReply, placement: Placement, original: string): Promise<void> {
  if (!reply.code.trim()) {
    Notification.warning(`NEXUS ${title}: the model (${reply.model}) returned no code.`, { autoClose: 8000 });
    return;
  }
  const note = [reply.explanation, reply.valid ? '' : 'Warning: this code did not pass validation.', `Model: ${reply.provider}/${reply.model}`]
    .filter(Boolean)
    .join('\n');
  const before = placement === 'replace' ? original : '';
  const accepted = await reviewChange(title, before, reply.code, note);
  void reportFeedback(reply.interaction_id, accepted ? 'accepted' : 'rejected');
  if (!accepted) {
    return;
  }
  const model = `${reply.provider}/${reply.model}`;
  if (placement === 'replace') {
    await workspace.replaceSelection(reply.code, { model });
  } else {
    await workspace.insertBelow(reply.code, { model });
  }
}

export function addAIActions(app: JupyterFrontEnd, workspace: Workspace, chat: INexusChat | null, palette: ICommandPalette | null): void {
  const code = () => {
    const editor = workspace.activeEditor();
    return workspace.selectionText(editor) || editor?.model.sharedModel.getSource() || '';
  };
  const hasEditor = () => workspace.activeEditor() !== null;
  const path = () => workspace.editorContext().notebookPath ?? undefined;

  for (const edit of EDITS) {
    app.commands.addCommand(edit.id, {
      label: `NEXUS: ${edit.label}`,
      caption: edit.caption,
      isEnabled: hasEditor,
      execute: async () => {
        const original = code();
        if (!original.trim()) {
          Notification.info(`NEXUS ${edit.label}: the cell is empty.`, { autoClose: 4000 });
          return;
        }
        try {
          const reply = await withProgress(
            edit.label,
            generate({ task: 'code_generation', prompt: edit.prompt, context: { code: original, notebook_path: path() } })
          );
          await propose(workspace, edit.label, reply, edit.placement, original);
        } catch (err) {
          failed(edit.label, err);
        }
      }
    });
  }

  app.commands.addCommand(AICommandIDs.generate, {
    label: 'NEXUS: Generate code…',
    caption: 'Describe what the code should do; NEXUS writes it into the cell',
    isEnabled: hasEditor,
    execute: async () => {
      const asked = await InputDialog.getText({ title: 'Generate code', placeholder: 'e.g. a function that returns the n-th Fibonacci number' });
      if (!asked.button.accept || !asked.value?.trim()) {
        return;
      }
      const original = workspace.activeEditor()?.model.sharedModel.getSource() ?? '';
      try {
        const reply = await withProgress('Generate', generate({ task: 'code_generation', prompt: asked.value, context: { notebook_path: path() } }));
        await propose(workspace, 'Generate', reply, original.trim() ? 'below' : 'replace', original);
      } catch (err) {
        failed('Generate', err);
      }
    }
  });

  app.commands.addCommand(AICommandIDs.explain, {
    label: 'NEXUS: Explain',
    caption: 'Explain this code in the chat panel',
    isEnabled: () => hasEditor() && chat !== null,
    execute: async () => {
      await chat?.ask('Explain what this code does, step by step.');
    }
  });

  const all = [AICommandIDs.generate, AICommandIDs.explain, ...EDITS.map(e => e.id)];
  for (const command of all) {
    palette?.addItem({ command, category: 'NEXUS' });
  }
  app.contextMenu.addItem({ type: 'separator', selector: '.jp-Cell', rank: 60 });
  all.forEach((command, i) => app.contextMenu.addItem({ command, selector: '.jp-CodeCell', rank: 61 + i / 10 }));
  all.forEach((command, i) => app.contextMenu.addItem({ command, selector: '.jp-FileEditor', rank: 61 + i / 10 }));
}
