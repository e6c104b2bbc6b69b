/**
 * Doing what a transcribed voice command asks: a recognised command runs at once, a destructive or
 * uncertain one only after the user confirms (Cancel runs nothing), anything else goes into the chat
 * prompt. The effects (JupyterLab's commands, the dialog, the server call) come in through
 * ``IVoiceEffects``, so this is unit-tested without a browser; ``button.ts`` passes the real ones.
 */
import type { IVoiceReply } from '../api';
import { decideVoiceAction } from './decide';

export interface IVoiceEffects {
  /** Whether JupyterLab has the command (``app.commands.hasCommand``). */
  hasCommand(id: string): boolean;
  /** Run a JupyterLab command (``app.commands.execute``). */
  execute(id: string): Promise<unknown>;
  /** Run a server command (``POST /commands/NAME``). */
  runServerCommand(name: string, text: string | null): Promise<{ result?: unknown }>;
  /** Ask the user; resolves true only when they choose to run it. */
  confirm(title: string, body: string): Promise<boolean>;
  setPrompt(text: string): void;
  notify(kind: 'info' | 'success', message: string): void;
}

export type VoiceOutcome = 'ran' | 'cancelled' | 'prompted' | 'nothing';

/** The confirmation's words: why this command is not run straight away. */
export function confirmation(reply: Pick<IVoiceReply, 'text' | 'command'>, title: string): { title: string; body: string } {
  const said = `You said “${reply.text.trim()}”.`;
  const destructive = Boolean(reply.command?.command?.destructive);
  const why = destructive ? 'This command changes your work.' : 'NEXUS is not sure it heard you right.';
  return { title: `Run “${title}”?`, body: `${said} ${why}` };
}

export async function performVoiceReply(reply: Pick<IVoiceReply, 'text' | 'command'>, effects: IVoiceEffects): Promise<VoiceOutcome> {
  const action = decideVoiceAction(reply, id => effects.hasCommand(id));
  if (action.kind === 'nothing') {
    effects.notify('info', action.reason);
    return 'nothing';
  }
  if (action.kind === 'prompt') {
    effects.setPrompt(action.text);
    return 'prompted';
  }
  effects.notify('info', `Heard: “${reply.text}”`);
  if (action.confirm) {
    const asked = confirmation(reply, action.title);
    if (!(await effects.confirm(asked.title, asked.body))) {
      return 'cancelled';
    }
  }
  if (action.kind === 'run') {
    await effects.execute(action.command);
  } else {
    const done = await effects.runServerCommand(action.name, action.text);
    const result = typeof done.result === 'string' ? done.result : JSON.stringify(done.result);
    effects.notify('success', `${action.title}: ${result}`);
  }
  return 'ran';
}
