/**
 * What to do with a transcribed voice command: run a JupyterLab command (after
 * asking, for destructive or uncertain ones), run a server command (a plugin's,
 * through ``POST /commands/NAME``), or put the text into the chat prompt, where
 * the classifier routes it (plugin intents included). Pure so the rules are
 * unit-tested; the button does the effects.
 */

/** Mirrors VoiceCommandOut in api_models.py. */
export interface IVoiceCommand {
  name: string;
  title: string;
  target: 'frontend' | 'intent' | 'server';
  lab_command?: string | null;
  intent?: string | null;
  text?: string | null;
  destructive?: boolean;
  source?: string;
}

/** Mirrors VoiceDecision. */
export interface IVoiceDecision {
  action: 'run' | 'confirm' | 'none';
  confidence: number;
  reason?: string | null;
  command?: IVoiceCommand | null;
  alternatives?: string[];
}

/** The part of TranscriptionReply the button reads. */
export interface IVoiceReply {
  text: string;
  command?: IVoiceDecision | null;
}

export type VoiceAction =
  | { kind: 'run'; command: string; confirm: boolean; title: string }
  | { kind: 'server'; name: string; text: string | null; confirm: boolean; title: string }
  | { kind: 'prompt'; text: string }
  | { kind: 'nothing'; reason: string };

export function decideVoiceAction(reply: IVoiceReply, hasCommand: (id: string) => boolean): VoiceAction {
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
