/**
 * What to do with a transcribed voice command: run a JupyterLab command (after
 * asking, for destructive ones), or put the text into the chat prompt. Pure so
 * the rules are unit-tested; the button does the effects.
 */

export interface IVoiceCommand {
  name?: string | null;
  title?: string | null;
  lab_command?: string | null;
  intent?: string | null;
  needs_confirmation?: boolean;
  argument?: string | null;
}

export interface IVoiceReply {
  text: string;
  command?: IVoiceCommand | null;
}

export type VoiceAction =
  | { kind: 'run'; command: string; confirm: boolean; title: string }
  | { kind: 'prompt'; text: string }
  | { kind: 'nothing'; reason: string };

export function decideVoiceAction(reply: IVoiceReply, hasCommand: (id: string) => boolean): VoiceAction {
  const text = (reply.text ?? '').trim();
  const command = reply.command;
  if (command?.lab_command && hasCommand(command.lab_command)) {
    return {
      kind: 'run',
      command: command.lab_command,
      confirm: Boolean(command.needs_confirmation),
      title: command.title || command.name || command.lab_command
    };
  }
  if (command?.intent && command.argument) {
    return { kind: 'prompt', text: command.argument };
  }
  if (!text) {
    return { kind: 'nothing', reason: 'Nothing was recognised; try again a little closer to the microphone.' };
  }
  return { kind: 'prompt', text };
}
