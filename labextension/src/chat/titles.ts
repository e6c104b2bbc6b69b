/**
 * What the conversation picker lists: each conversation by its whole title (the option's text and
 * tooltip: the picker ends a title that does not fit with "…", and its own tooltip is the open
 * conversation's whole title). Pure so the rules are unit-tested.
 */
import type { IConversation } from '../api';

export interface IPickerOption {
  /** The conversation's id; '' for a new one. */
  value: string;
  label: string;
  title: string;
}

export const NEW_CONVERSATION: IPickerOption = {
  value: '',
  label: 'New conversation',
  title: 'New conversation: your first message names it'
};

export function pickerOptions(conversations: readonly Pick<IConversation, 'id' | 'title'>[]): IPickerOption[] {
  return [
    NEW_CONVERSATION,
    ...conversations.map(c => {
      const label = c.title.trim() || 'Untitled';
      return { value: c.id, label, title: label };
    })
  ];
}
