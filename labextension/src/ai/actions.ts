/**
 * AI actions on cells and editors: Generate from a prompt, Explain, Refactor,
 * Add docstring, Write tests. Each edit is shown as a diff first and only
 * Accept changes the notebook; nothing is run. Accept and Reject are reported
 * to the learning system as feedback on the answer.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { buildIcon, codeCheckIcon, codeIcon, inspectorIcon, LabIcon, textEditorIcon } from '@jupyterlab/ui-components';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Menu } from '@lumino/widgets';
import { ICommandPalette, InputDialog, Notification } from '@jupyterlab/apputils';

import { generate, IGenerateReply, NexusAPIError } from '../api';
import { reportFeedback } from '../feedback';
import type { INexusChat } from '../tokens';
import type { Workspace } from '../workspace';
import { IRequirement } from './proposal';
import { Placement, reviewProposal } from './review';
import { reviewChange } from './diffview';

export namespace AICommandIDs {
  export const generate = 'nexus:generate-code';
  export const explain = 'nexus:explain-code';
  export const refactor = 'nexus:refactor-code';
  export const docstring = 'nexus:add-docstring';
  export const tests = 'nexus:write-tests';
}

interface IEditAction {
  id: string;
  icon: LabIcon;
  label: string;
  caption: string;
  prompt: string;
  placement: Placement;
  requires?: IRequirement;
}

const EDITS: IEditAction[] = [
  {
    id: AICommandIDs.refactor,
    icon: buildIcon,
    label: 'Refactor',
    caption: 'Rewrite this code to be clearer, keeping its behaviour',
    prompt: 'Refactor this code to be clearer and more idiomatic. Keep its behaviour exactly the same.',
    placement: 'replace'
  },
  {
    id: AICommandIDs.docstring,
    icon: textEditorIcon,
    label: 'Add docstring',
    caption: 'Add docstrings to the functions and classes in this code',
    prompt: 'Add a concise docstring to every function and class in this code. Change nothing else.',
    placement: 'replace',
    requires: { pattern: /"""|\'\'\'/, missing: 'the model added no docstring' }
  },
  {
    id: AICommandIDs.tests,
    icon: codeCheckIcon,
    label: 'Write tests',
    caption: 'Write pytest tests for this code in a new cell below',
    prompt: 'Write pytest unit tests for this code. Reply with the test code only.',
    placement: 'below',
    requires: { pattern: /\bdef test_\w*\s*\(|\bassert\b/, missing: 'the model wrote no test (no test function or assert)' }
  }
];

/** "NEXUS: Explain" in the palette, "Explain" in the NEXUS submenu, and nothing on the cell toolbar,
 * where the icon alone shows (text buttons covered the first line of code), with the label as tooltip. */
function commandLabel(label: string, args: ReadonlyPartialJSONObject): string {
  return args.toolbar ? '' : args.short ? label : `NEXUS: ${label}`;
}

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

/** Apply ``reply`` to the active cell/editor after the user accepts the diff (``review.ts``); a
 * proposal that is no edit (nothing, the same code, only whitespace, an echo, code that does not
 * parse) is not offered: the user is told what the model did instead. */
async function propose(
  workspace: Workspace,
  title: string,
  reply: IGenerateReply,
  placement: Placement,
  original: string,
  requires?: IRequirement
): Promise<void> {
  await reviewProposal(
    title,
    reply,
    placement,
    original,
    {
      review: reviewChange,
      apply: (code, where, model) => (where === 'replace' ? workspace.replaceSelection(code, { model }) : workspace.insertBelow(code, { model })),
      warn: message => void Notification.warning(message, { autoClose: 10000 }),
      report: reportFeedback
    },
    requires
  );
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
      label: args => commandLabel(edit.label, args),
      icon: edit.icon,
      caption: edit.caption,
      isEnabled: hasEditor,
      execute: async () => {
        workspace.activateContextMenuCell(app);
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
          await propose(workspace, edit.label, reply, edit.placement, original, edit.requires);
        } catch (err) {
          failed(edit.label, err);
        }
      }
    });
  }

  app.commands.addCommand(AICommandIDs.generate, {
    label: args => commandLabel('Generate code…', args),
    icon: codeIcon,
    caption: 'Describe what the code should do; NEXUS writes it into the cell',
    isEnabled: hasEditor,
    execute: async () => {
      workspace.activateContextMenuCell(app); // Generate from a cell's menu writes into that cell
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
    label: args => commandLabel('Explain', args),
    icon: inspectorIcon,
    caption: 'Explain this code in the chat panel',
    isEnabled: () => hasEditor() && chat !== null,
    execute: async () => {
      workspace.activateContextMenuCell(app);
      await chat?.ask('Explain what this code does, step by step.');
    }
  });

  const all = [AICommandIDs.generate, AICommandIDs.explain, ...EDITS.map(e => e.id)];
  for (const command of all) {
    palette?.addItem({ command, category: 'NEXUS' });
  }
  // One "NEXUS" submenu after a separator, not five "NEXUS:" items among JupyterLab's own
  const submenu = new Menu({ commands: app.commands });
  submenu.title.label = 'NEXUS';
  all.forEach(command => submenu.addItem({ command, args: { short: true } }));
  for (const selector of ['.jp-CodeCell', '.jp-FileEditor']) {
    app.contextMenu.addItem({ type: 'separator', selector, rank: 60 });
    app.contextMenu.addItem({ type: 'submenu', submenu, selector, rank: 61 });
  }
}
