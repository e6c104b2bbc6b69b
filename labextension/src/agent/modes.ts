/**
 * How the chat input reaches the agent: ``/agent <goal>`` in either mode, or
 * anything typed in Agent mode; and the approval modes the user may pick
 * (``auto`` only where the server allows it). Pure, so it is unit-tested.
 */
import type { AgentMode } from '../api';

export interface IModeOption {
  value: AgentMode;
  label: string;
  title: string;
}

const MODES: IModeOption[] = [
  {
    value: 'ask',
    label: 'Ask every time',
    title: 'Every edit and every run waits for your approval'
  },
  {
    value: 'auto_edits',
    label: 'Auto-accept edits, ask before running',
    title: 'Edits to cells apply at once; running code still asks'
  },
  {
    value: 'auto',
    label: 'Auto',
    title: 'Nothing asks: the agent edits and runs on its own (allowed by the administrator)'
  }
];

/** The approval modes to offer: ``auto`` only when ``GET /agent/tools`` says ``allow_auto``. */
export function modeOptions(allowAuto: boolean): IModeOption[] {
  return MODES.filter(m => m.value !== 'auto' || allowAuto);
}

/** The goal of ``/agent <goal>`` ('' for a bare ``/agent``), or null when the text is not that command. */
export function parseAgentCommand(text: string): string | null {
  const m = /^\/agent(?:\s+([\s\S]*))?$/i.exec(text.trim());
  return m ? (m[1] ?? '').trim() : null;
}

/**
 * What the prompt asks of the agent: its goal, or null when it is for the chat. In Agent mode
 * everything is a goal except the chat's own slash commands (``chatCommand``: ``/new`` still works).
 */
export function agentGoal(text: string, agentMode: boolean, chatCommand = false): string | null {
  const command = parseAgentCommand(text);
  if (command !== null) {
    return command;
  }
  return agentMode && !chatCommand && text.trim() ? text.trim() : null;
}
