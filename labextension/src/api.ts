/**
 * NEXUS server types and calls.
 *
 * The types are generated from the server's OpenAPI document: `labextension/openapi.json`
 * (written by `make api-types` from nexus_server_ext/api_models/, the handlers and the event
 * schemas) becomes `src/schema.ts` at every build (`jlpm build:types`). The names below are
 * aliases of those types: never copy a model here by hand.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { components } from './schema';

export const API_PATH = 'nexus/api/v1';

type Schemas = components['schemas'];

export type IErrorReply = Schemas['ErrorReply'];
export type IStatusReply = Schemas['StatusReply'];
export type IConversation = Schemas['ConversationOut'];
export type IConversationDetail = Schemas['ConversationDetail'];
export type IMessage = Schemas['MessageOut'];
export type ISlashCommandInfo = Schemas['SlashCommandOut'];
export type INotebookCellInsert = Schemas['NotebookCellInsert'];
export type INotebookCellInserted = Schemas['NotebookCellInserted'];
export type IGenerateRequest = Schemas['GenerateRequest'];
export type IGenerateReply = Schemas['GenerateReply'];
export type IRouteStep = Schemas['RouteStep'];
export type IMetricsSummary = Schemas['MetricsSummary'];
export type ICommandResult = Schemas['CommandResult'];
export type IFeedbackRequest = Schemas['FeedbackRequest'];
export type IVoiceReply = Schemas['TranscriptionReply'];
export type IVoiceDecision = Schemas['VoiceDecision'];
export type IVoiceCommand = Schemas['VoiceCommandOut'];
export type IProviderSecretOut = Schemas['ProviderSecretOut'];
export type IProviderSecretState = Schemas['ProviderSecretState'];
export type IProviderSecretList = Schemas['ProviderSecretList'];
export type ITask = Schemas['TaskOut'];
export type ILearnProgress = Schemas['LearnProgressOut'];
export type IAgentRun = Schemas['AgentRunOut'];
export type IAgentStep = Schemas['AgentStepOut'];
export type IAgentUndo = Schemas['AgentUndoOut'];
export type IAgentToolList = Schemas['AgentToolList'];
export type ICatalogModel = Schemas['CatalogModelOut'];
export type IModelCatalog = Schemas['ModelCatalogReply'];
export type IModelPull = Schemas['ModelPullOut'];
export type IActiveModel = Schemas['ActiveModelOut'];
export type AgentMode = Schemas['AgentRunOut']['mode'];
export type AgentRunState = Schemas['AgentRunOut']['state'];
export type AgentStepStatus = Schemas['AgentStepOut']['status'];
export type AgentToolKind = Schemas['AgentStepOut']['kind'];
export type AgentDecision = Schemas['AgentApproval']['decision'];

export type ContextKind = Schemas['ContextItem']['kind'];
export type NotebookAction = Schemas['NotebookActivityFrame']['action'];
export type SecretScope = Schemas['ProviderSecretOut']['scope'];
export type TaskState = Schemas['TaskOut']['state'];

// -- the websocket protocol ------------------------------------------------------------------
export type ClientFrame = Schemas['ClientFrame'];
export type ServerFrame = Schemas['ServerFrame'];
export type IChatFrame = Schemas['ChatFrame'];
export type IChatContext = Schemas['ChatContext'];
export type ICancelFrame = Schemas['CancelFrame'];
export type ICompleteFrame = Schemas['CompleteFrame'];
export type IContextItem = Schemas['ContextItem'];
export type IChatDoneFrame = Schemas['ChatDoneFrame'];
export type ICitation = Schemas['Citation'];
/** The frames that follow a notebook's shared chat (`notebook.join`, `.leave`, `.activity`). */
export type NotebookClientFrame = Extract<ClientFrame, { type: `notebook.${string}` }>;
/** The agent's frames: `agent.start`, `.approval`, `.stop`, `.undo` (answered by `agent.run` frames). */
export type AgentClientFrame = Extract<ClientFrame, { type: `agent.${string}` }>;
export type IAgentRunFrame = Schemas['AgentRunFrame'];
export type IErrorFrame = Schemas['ErrorFrame'];

// -- the events NEXUS puts on Jupyter's event bus (event_schemas/<area>/v1.yaml) ----------------
export { EventSchemas } from './events';
export type ITaskEvent = Schemas['TasksEvent'];
export type ILearnEvent = Schemas['LearnEvent'];
export type IModelEvent = Schemas['ModelEvent'];
export type IPluginEvent = Schemas['PluginsEvent'];

/** An error from the NEXUS API carrying the server's human-readable message. */
export class NexusAPIError extends Error {
  constructor(
    readonly status: number,
    readonly reply: IErrorReply | null
  ) {
    super(reply?.message ?? `NEXUS answered HTTP ${status}`);
  }
}

/** Call a NEXUS REST endpoint with the Jupyter server's credentials. */
export async function requestAPI<T>(endPoint = '', init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, API_PATH, endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new NexusAPIError(response.status, data as IErrorReply | null);
  }
  return data as T;
}

/** A JSON request body typed as the server's model for it. */
function jsonBody<T>(method: string, body: T): RequestInit {
  return { method, body: JSON.stringify(body) };
}

export function fetchStatus(): Promise<IStatusReply> {
  return requestAPI<IStatusReply>('status');
}

// -- calls used by the panels ------------------------------------------------------------------------
export function listConversations(): Promise<Schemas['ConversationList']> {
  return requestAPI('conversations');
}

export function getConversation(id: string): Promise<IConversationDetail> {
  return requestAPI(`conversations/${id}`);
}

export function renameConversation(id: string, title: string): Promise<IConversation> {
  return requestAPI(`conversations/${id}`, jsonBody<Schemas['ConversationUpdate']>('PATCH', { title }));
}

export function deleteConversation(id: string): Promise<void> {
  return requestAPI(`conversations/${id}`, { method: 'DELETE' });
}

export function listSlashCommands(): Promise<Schemas['SlashCommandList']> {
  return requestAPI('chat/commands');
}

/** The shared chat of a notebook (403 when the user cannot open the notebook). */
export function getNotebookChat(path: string): Promise<IConversationDetail> {
  return requestAPI(`notebooks/chat?path=${encodeURIComponent(path)}`);
}

/** Insert a cell on the server (attributed to the caller), through the shared document when open. */
export function insertNotebookCell(body: INotebookCellInsert): Promise<INotebookCellInserted> {
  return requestAPI('notebooks/cells', jsonBody('POST', body));
}

export function generate(body: IGenerateRequest): Promise<IGenerateReply> {
  return requestAPI('generate', jsonBody('POST', body));
}

export function fetchMetricsSummary(): Promise<IMetricsSummary> {
  return requestAPI('metrics/summary');
}

/** ``POST /commands/NAME``: server commands (plugins' included) run there and return their result. */
export function runCommand(name: string, text: string | null, args: Record<string, unknown> = {}): Promise<ICommandResult> {
  return requestAPI(`commands/${encodeURIComponent(name)}`, jsonBody<Schemas['CommandRun']>('POST', { text, args }));
}

/** Thumbs up / down on an answer (the learning system's input). */
export function sendFeedback(body: IFeedbackRequest): Promise<Schemas['FeedbackReply']> {
  return requestAPI('feedback', jsonBody('POST', body));
}

// -- provider API keys ---------------------------------------------------------------------------------
export function listProviderSecrets(): Promise<IProviderSecretList> {
  return requestAPI('secrets');
}

/** Set or replace a provider key: the caller's own (`user`) or the server-wide one (`server`, admins). */
export function setProviderSecret(
  provider: string,
  apiKey: string,
  scope: SecretScope = 'user'
): Promise<IProviderSecretOut> {
  return requestAPI(
    `secrets/${scope}/${encodeURIComponent(provider)}`,
    jsonBody<Schemas['ProviderSecretIn']>('PUT', { api_key: apiKey })
  );
}

export function deleteProviderSecret(provider: string, scope: SecretScope = 'user'): Promise<void> {
  return requestAPI(`secrets/${scope}/${encodeURIComponent(provider)}`, { method: 'DELETE' });
}

// -- the models to run here (the model dashboard) ------------------------------------------------------
/** The bundled model and the catalogue: hardware fit, pulled, in use, and this server's pulls. */
export function fetchModelCatalog(): Promise<IModelCatalog> {
  return requestAPI('models/catalog');
}

/** Pull a catalogue model from the Hugging Face Hub on the server (resumes a cancelled pull); `use`: switch. */
export function startModelPull(name: string, use = true): Promise<IModelPull> {
  return requestAPI('models/pulls', jsonBody<Schemas['ModelPullRequest']>('POST', { name, use }));
}

export function cancelModelPull(id: string): Promise<IModelPull> {
  return requestAPI(`models/pulls/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** Route chat, code generation and completion to a pulled model, or back to `bundled`. */
export function useModel(name: string): Promise<IActiveModel> {
  return requestAPI('models/active', jsonBody<Schemas['ActiveModelRequest']>('PUT', { name }));
}

// -- background tasks and learning ---------------------------------------------------------------------
export function listTasks(): Promise<Schemas['TaskList']> {
  return requestAPI('tasks');
}

/** Cancel a pending or running task (learning a folder, building an environment). */
export function cancelTask(id: string): Promise<ITask> {
  return requestAPI(`tasks/${id}/cancel`, { method: 'POST' });
}

/** Learn a folder, file or glob into the caller's memory (a cancellable ``learn`` task). */
export function learn(path: string): Promise<ILearnProgress> {
  return requestAPI('memory/learn', jsonBody<Schemas['LearnRequest']>('POST', { path }));
}

// -- the notebook agent (its turns stream over the websocket: ./agent/) ---------------------------------
/** The agent's tools, whether the `auto` mode is allowed here, and a turn's limits. */
export function getAgentTools(): Promise<IAgentToolList> {
  return requestAPI('agent/tools');
}

/** One turn as it stands (to catch up after the websocket reconnected). */
export function getAgentRun(id: string): Promise<IAgentRun> {
  return requestAPI(`agent/runs/${encodeURIComponent(id)}`);
}

// -- voice and the websocket ---------------------------------------------------------------------------
/** Send recorded audio to the voice endpoint (raw body; the server sniffs the container). */
export async function transcribe(audio: Blob): Promise<IVoiceReply> {
  const form = new FormData();
  form.append('audio', audio, 'speech.webm');
  return requestAPI('voice/transcribe', { method: 'POST', body: form });
}

/** The websocket URL, with the server's base URL and ws(s) scheme. */
export function websocketURL(): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(settings.wsUrl, API_PATH, 'ws');
}
