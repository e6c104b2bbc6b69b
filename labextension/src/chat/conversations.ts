/**
 * The private-conversation picker in the chat panel's header: the list of the
 * user's conversations, New, Rename and Delete. The panel shows whichever
 * conversation the picker opens.
 */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { addIcon, deleteIcon, editIcon } from '@jupyterlab/ui-components';

import { deleteConversation, IConversation, listConversations, renameConversation } from '../api';
import { button } from './footer';
import { NEW_CONVERSATION, pickerOptions } from './titles';

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
    this._select.setAttribute('aria-label', 'Conversations');
    this._select.addEventListener('change', () => {
      this._showTitle();
      void options.open(this._select.value || null);
    });
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
    this._select.replaceChildren();
    for (const entry of pickerOptions(list)) {
      const option = new Option(entry.label, entry.value);
      option.title = entry.title;
      this._select.appendChild(option);
    }
    this._select.value = this.options.current() ?? '';
    this._showTitle();
  }

  /** The whole title of the open conversation as the tooltip (the picker may end it with "…"). */
  private _showTitle(): void {
    this._select.title = this._select.selectedOptions[0]?.title ?? NEW_CONVERSATION.title;
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
