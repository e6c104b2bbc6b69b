/**
 * What to do with a transcribed voice command: run a JupyterLab command (after
 * asking, for destructive or uncertain ones), run a server command (a plugin's,
 * through ``POST /commands/NAME``), or put the text into the chat prompt, where
 * the classifier routes it (plugin intents included). Pure so the rules are
 * unit-tested; the button does the effects.
 */

import type { IVoiceReply } from '../api';

export type { IVoiceCommand, IVoiceDecision, IVoiceReply } from '../api';

export type VoiceAction =
  | { kind: 'run'; command: string; confirm: boolean; title: string }
  | { kind: 'server'; name: string; text: string | null; confirm: boolean; title: string }
  | { kind: 'prompt'; text: string }
  | { kind: 'nothing'; reason: string };

export function decideVoiceAction(
  reply: Pick<IVoiceReply, 'text' | 'command'>,
  hasCommand: (id: string) => boolean
): VoiceAction {
  const text = (reply.text ?? '').trim();
  const decision = reply.command;
  const command = decision && decision.action !== 'none' ? decision.command : null;
  const confirm = decision?.action === 'confirm' || Boolean(command?.destructive);
  if (command?.lab_command && hasCommand(command.lab_command)) {
    return { kind: 'run', command: command.lab_command, confirm, title: command.title || command.name };
  }
  if (command?.target === 'server') {
    return { kind: 'server', name: command.name, text: command.text ?? null, confirm, title: command.title || command.name };
  }
  if (command?.target === 'intent' && command.text) {
    return { kind: 'prompt', text: command.text };
  }
  if (!text) {
    return { kind: 'nothing', reason: 'Nothing was recognised; try again a little closer to the microphone.' };
  }
  return { kind: 'prompt', text };
}
