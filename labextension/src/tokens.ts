/**
 * Public APIs of the NEXUS frontend. Other JupyterLab extensions require
 * these tokens to add chat slash commands and context providers, to use
 * the NEXUS websocket without opening a second one, or to act where the user is.
 */
import { Token } from '@lumino/coreutils';

import type { AgentClientFrame, IChatFrame, ICompleteFrame, NotebookClientFrame, ServerFrame } from './api';
import type { ISlashCommand } from './chat/slash';
import type { ConnectionState, IRequestWatcher } from './socket';
import type { Workspace } from './workspace';

export type { ISlashCommand } from './chat/slash';

/** The shared NEXUS websocket of this browser tab. */
export interface INexusClient {
  readonly state: ConnectionState;
  request(frame: IChatFrame | ICompleteFrame, onFrame: (frame: ServerFrame) => void): void;
  cancel(id: string): void;
  /** Frames that are not requests: a notebook's chat (join, leave, activity) and the agent's frames. */
  send(frame: NotebookClientFrame | AgentClientFrame): void;
  listen(listener: (frame: ServerFrame) => void): () => void;
  onStateChange(listener: (state: ConnectionState) => void): () => void;
  /** See every request of this tab as it is sent and each frame it gets (the status bar's answer warning). */
  watch(watcher: IRequestWatcher): () => void;
}

export const INexusClient = new Token<INexusClient>(
  'nexus-jupyterlab:INexusClient',
  'The NEXUS websocket (chat, completion, server events) shared by all panels.'
);

/** Extra text a provider adds to what the user sends (e.g. a dataframe schema). */
export interface IContextProvider {
  name: string;
  /** Return null to add nothing for this message. */
  provide(): Promise<string | null> | string | null;
}

export interface INexusChat {
  /** Add a slash command to the chat prompt; returns a function that removes it. */
  addCommand(command: ISlashCommand): () => void;
  /** Add a context provider whose text is appended to the context of every message. */
  addContextProvider(provider: IContextProvider): () => void;
  /** Open the chat panel and send ``text`` (with the current context chips). */
  ask(text: string): Promise<void>;
}

export const INexusChat = new Token<INexusChat>(
  'nexus-jupyterlab:INexusChat',
  'The NEXUS chat panel: slash commands, context providers, and asking from other extensions.'
);

/**
 * Where the user is (the active cell or editor, its selection, the last error a cell raised) and
 * the code actions on it: one per JupyterLab, shared by the chat, the AI actions and the debug panel.
 */
export type INexusWorkspace = Workspace;

export const INexusWorkspace = new Token<INexusWorkspace>(
  'nexus-jupyterlab:INexusWorkspace',
  "Where the user is (active cell or editor, selection, last error) and NEXUS's edits there."
);
