/**
 * The NEXUS plugins: the shared websocket client, the shared workspace, the
 * chat panel (with the voice button), AI actions, the debug panel and the
 * inline completion provider. Each is small glue; the logic lives in the panel folders.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ICompletionProviderManager } from '@jupyterlab/completer';
import { IDebugger } from '@jupyterlab/debugger';
import { IEditorTracker } from '@jupyterlab/fileeditor';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { addAIActions } from './ai/actions';
import { fetchStatus, listSlashCommands, websocketURL } from './api';
import { ChatPanel } from './chat/panel';
import { ISlashCommand } from './chat/slash';
import { NexusInlineProvider } from './completion/provider';
import { DebugPanel, notifyErrors } from './debug/panel';
import { chartIcon } from './icons';
import { DashboardPanel } from './monitor/panel';
import { trackProvenance } from './notebook/provenance';
import { ISocketLike, NexusSocket } from './socket';
import { IContextProvider, INexusChat, INexusClient, INexusWorkspace } from './tokens';
import { trackAttribution } from './notebook/attribution';
import { VoiceButton } from './voice/button';
import { Workspace } from './workspace';

export namespace PanelCommandIDs {
  export const openDashboard = 'nexus:open-dashboard';
  export const openChat = 'nexus:open-chat';
  export const openDebug = 'nexus:open-debug';
}

export const nexusIcon = new LabIcon({
  name: 'nexus:logo',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<path d="M4 4h3.2l9.6 11.2V4H20v16h-3.2L7.2 8.8V20H4z"/></g></svg>'
});

export const debugIcon = new LabIcon({
  name: 'nexus:debug',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<path d="M9 21h6v-1.5H9zm3-19a7 7 0 0 0-4 12.7V17a1 1 0 0 0 1 1h6a1 1 0 0 0 1-1v-2.3A7 7 0 0 0 12 2zm1 13v1h-2v-5.6L9.3 8.7l1.4-1.4L12 8.6l1.3-1.3 1.4 1.4L13 10.4z"/></g></svg>'
});

const clientPlugin: JupyterFrontEndPlugin<INexusClient> = {
  id: 'nexus-jupyterlab:client',
  description: 'The NEXUS websocket shared by the chat, completion and debug panels.',
  autoStart: true,
  provides: INexusClient,
  activate: () => {
    const socket = new NexusSocket({
      url: websocketURL(),
      factory: url => new WebSocket(url) as unknown as ISocketLike
    });
    socket.connect();
    return socket;
  }
};

/** One Workspace for the chat, the AI actions and the debug panel; made when the first of them starts. */
export const workspacePlugin: JupyterFrontEndPlugin<INexusWorkspace> = {
  id: 'nexus-jupyterlab:workspace',
  description: 'Where the user is (active cell or editor, selection, last error), shared by the NEXUS panels.',
  autoStart: false,
  provides: INexusWorkspace,
  optional: [INotebookTracker, IEditorTracker],
  activate: (app: JupyterFrontEnd, notebooks: INotebookTracker | null, editors: IEditorTracker | null) => {
    const workspace = new Workspace(app, notebooks, editors);
    // the server's name for the user (a single-user server's owner) labels cells and notebook chats
    void fetchStatus()
      .then(status => (workspace.ownerName = status.display_name ?? ''))
      .catch(() => undefined);
    return workspace;
  }
};

const chatPlugin: JupyterFrontEndPlugin<INexusChat> = {
  id: 'nexus-jupyterlab:chat',
  description: 'The NEXUS chat panel in the right sidebar.',
  autoStart: true,
  requires: [INexusClient, IRenderMimeRegistry, INexusWorkspace],
  optional: [INotebookTracker, ICommandPalette, ISettingRegistry, ILayoutRestorer],
  provides: INexusChat,
  activate: (
    app: JupyterFrontEnd,
    client: INexusClient,
    rendermime: IRenderMimeRegistry,
    ws: INexusWorkspace,
    notebooks: INotebookTracker | null,
    palette: ICommandPalette | null,
    settings: ISettingRegistry | null,
    restorer: ILayoutRestorer | null
  ): INexusChat => {
    const commands: ISlashCommand[] = [];
    const providers: IContextProvider[] = [];
    const panel = new ChatPanel({
      client,
      rendermime,
      actions: ws,
      editorContext: () => ws.editorContext(),
      commands,
      contextProviders: providers,
      icon: nexusIcon,
      notebookPath: () => notebooks?.currentWidget?.context.path ?? null,
      openSource: target => ws.openSource(target)
    });
    const voice = new VoiceButton(app, text => panel.setPrompt(text));
    panel.toolbar.prepend(voice.node);
    app.shell.add(panel, 'right', { rank: 200 });
    restorer?.add(panel, 'nexus-chat');
    void panel.refreshConversations();
    notebooks?.activeCellChanged.connect(() => panel.isVisible && panel.refreshContext());
    notebooks?.currentChanged.connect(() => void panel.notebookChanged());
    if (notebooks) {
      trackAttribution(notebooks);
    }
    // What this user does with an answer reaches the notebook's collaborators (notebook chat).
    ws.edited.connect((_, edit) => panel.shared.report(edit.path, edit.action, edit.cellId));
    ws.errorChanged.connect(() => panel.refreshContext());

    const ask = async (text: string) => {
      app.shell.activateById(panel.id);
      panel.refreshContext();
      await panel.send(text);
    };
    // The server's slash commands (its own, plugin intents and commands) are sent as typed;
    // /new is the panel's own.
    commands.push({ name: 'new', description: 'Start a new conversation', run: async () => (await panel.open(null), null) });
    const loadServerCommands = async (retries: number): Promise<void> => {
      try {
        for (const c of (await listSlashCommands()).commands) {
          commands.push({ name: c.name, description: c.description, run: rest => `/${c.name} ${rest}`.trim() });
        }
      } catch {
        if (retries > 0) {
          setTimeout(() => void loadServerCommands(retries - 1), 5000);
        }
      }
    };
    void loadServerCommands(3);

    app.commands.addCommand(PanelCommandIDs.openChat, {
      label: 'NEXUS: Open chat',
      execute: () => app.shell.activateById(panel.id)
    });
    palette?.addItem({ command: PanelCommandIDs.openChat, category: 'NEXUS' });
    if (settings) {
      void settings.load(chatPlugin.id).then(s => {
        const apply = () => (voice.enabled = s.get('voice').composite !== false);
        apply();
        s.changed.connect(apply);
      });
    } else {
      voice.enabled = true;
    }

    const chat: INexusChat = {
      addCommand: command => {
        commands.push(command);
        return () => void commands.splice(commands.indexOf(command), 1);
      },
      addContextProvider: provider => {
        providers.push(provider);
        return () => void providers.splice(providers.indexOf(provider), 1);
      },
      ask
    };
    addAIActions(app, ws, chat, palette);
    return chat;
  }
};

const debugPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nexus-jupyterlab:debug',
  description: 'The NEXUS debug panel: Explain / Fix for errors, explain the paused frame.',
  autoStart: true,
  requires: [IRenderMimeRegistry, INexusWorkspace],
  optional: [INexusChat, IDebugger, ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    ws: INexusWorkspace,
    chat: INexusChat | null,
    debuggerService: IDebugger | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const panel = new DebugPanel(ws, rendermime, chat, debuggerService, debugIcon);
    app.shell.add(panel, 'right', { rank: 210 });
    restorer?.add(panel, 'nexus-debug');
    notifyErrors(ws, error => {
      app.shell.activateById(panel.id);
      void panel.explainFix(error);
    });
    app.commands.addCommand(PanelCommandIDs.openDebug, {
      label: 'NEXUS: Explain / Fix the last error',
      isEnabled: () => ws.lastError !== null,
      execute: () => {
        app.shell.activateById(panel.id);
        if (ws.lastError) {
          void panel.explainFix(ws.lastError);
        }
      }
    });
    palette?.addItem({ command: PanelCommandIDs.openDebug, category: 'NEXUS' });
  }
};

const completionPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nexus-jupyterlab:completion',
  description: 'NEXUS inline completion (ghost text) in notebooks and files.',
  autoStart: true,
  requires: [INexusClient, ICompletionProviderManager],
  optional: [ISettingRegistry],
  activate: (app: JupyterFrontEnd, client: INexusClient, manager: ICompletionProviderManager, settings: ISettingRegistry | null) => {
    const provider = new NexusInlineProvider(client);
    manager.registerInlineProvider(provider);
    if (settings) {
      void settings.load(completionPlugin.id).then(s => {
        const apply = () => {
          provider.enabled = s.get('enabled').composite !== false;
          provider.session.debounceMs = Number(s.get('debounceMs').composite ?? 300);
        };
        apply();
        s.changed.connect(apply);
      });
    }
  }
};

const provenancePlugin: JupyterFrontEndPlugin<void> = {
  id: 'nexus-jupyterlab:provenance',
  description: "Copies the %nexus magics' provenance (model, provider, prompt id) into the cell's metadata.",
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app: JupyterFrontEnd, notebooks: INotebookTracker) => trackProvenance(notebooks)
};

const dashboardPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nexus-jupyterlab:dashboard',
  description: 'The NEXUS model dashboard: latency, tokens/s, fallbacks and queue depth over time.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (app: JupyterFrontEnd, palette: ICommandPalette | null, restorer: ILayoutRestorer | null) => {
    const panel = new DashboardPanel(chartIcon);
    app.shell.add(panel, 'right', { rank: 220 });
    restorer?.add(panel, 'nexus-dashboard');
    app.commands.addCommand(PanelCommandIDs.openDashboard, {
      label: 'NEXUS: Show the model dashboard',
      execute: () => app.shell.activateById(panel.id)
    });
    palette?.addItem({ command: PanelCommandIDs.openDashboard, category: 'NEXUS' });
  }
};

export const panelPlugins: JupyterFrontEndPlugin<unknown>[] = [
  clientPlugin,
  chatPlugin,
  debugPlugin,
  completionPlugin,
  provenancePlugin,
  dashboardPlugin
];
