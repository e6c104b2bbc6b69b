/**
 * The private-conversation picker in the chat panel's header: the list of the
 * user's conversations, New, Rename and Delete. The panel shows whichever
 * conversation the picker opens.
 */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { addIcon, deleteIcon, editIcon } from '@jupyterlab/ui-components';

import { deleteConversation, IConversation, listConversations, renameConversation } from '../api';
import { button } from './footer';

export interface IConversationPickerOptions {
  /** The conversation the panel shows (null: a new one). */
  current: () => string | null;
  open: (id: string | null) => Promise<void>;
}

export class ConversationPicker {
  constructor(private options: IConversationPickerOptions) {
    this.node.className = 'jp-nexus-conversation-picker';
    this._select.className = 'jp-nexus-conversations jp-mod-styled';
    this._select.title = 'Conversations';
    this._select.addEventListener('change', () => void options.open(this._select.value || null));
    const add = button('New', 'New conversation', 'jp-mod-new', addIcon);
    add.addEventListener('click', () => void options.open(null));
    const rename = button('Rename', 'Rename this conversation', 'jp-mod-rename', editIcon);
    rename.addEventListener('click', () => void this._rename());
    const remove = button('Delete', 'Delete this conversation', 'jp-mod-delete', deleteIcon);
    remove.addEventListener('click', () => void this._delete());
    this.node.append(this._select, add, rename, remove);
  }

  readonly node = document.createElement('div');

  async refresh(): Promise<void> {
    let list: IConversation[] = [];
    try {
      list = (await listConversations()).conversations;
    } catch {
      // the header keeps "New conversation"; the connection line says what is wrong
    }
    this._select.replaceChildren(new Option('New conversation', ''));
    for (const c of list) {
      this._select.appendChild(new Option(c.title || 'Untitled', c.id));
    }
    this._select.value = this.options.current() ?? '';
  }

  private async _rename(): Promise<void> {
    const id = this.options.current();
    if (!id) {
      return;
    }
    const current = this._select.selectedOptions[0]?.textContent ?? '';
    const result = await InputDialog.getText({ title: 'Rename conversation', text: current });
    if (result.button.accept && result.value?.trim()) {
      await renameConversation(id, result.value.trim());
      await this.refresh();
    }
  }

  private async _delete(): Promise<void> {
    const id = this.options.current();
    if (!id) {
      return;
    }
    const answer = await showDialog({
      title: 'Delete conversation?',
      body: 'The conversation and all its messages are deleted for good.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (answer.button.accept) {
      await deleteConversation(id);
      await this.options.open(null);
    }
  }

  private _select = document.createElement('select');
}
