/**
 * NEXUS server types and calls. The interfaces mirror the pydantic models in
 * nexus_server_ext/api_models/: change both together.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API_PATH = 'nexus/api/v1';

export interface IErrorReply {
  error: string;
  message: string;
  request_id: string;
}

export type ComponentState = 'ok' | 'degraded' | 'unavailable';

export interface IComponentStatus {
  name: string;
  state: ComponentState;
  detail: string;
  install_hint?: string | null;
}

export interface IStorageStatus {
  backend: string;
  url: string;
  revision: string | null;
  healthy: boolean;
}

export interface IModelRef {
  provider: string;
  model: string;
}

export interface ITaskRouting {
  task: string;
  chain: IModelRef[];
}

export interface IStatusReply {
  name: 'nexus';
  version: string;
  user: string;
  storage: IStorageStatus;
  components: IComponentStatus[];
  models: ITaskRouting[];
}

export interface IConversation {
  id: string;
  title: string;
  notebook_path: string | null;
  /** A notebook chat: everyone who can open the notebook sees it. */
  shared?: boolean;
  created_at: string;
  updated_at: string;
  message_count: number;
}

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

export function fetchStatus(): Promise<IStatusReply> {
  return requestAPI<IStatusReply>('status');
}

// -- websocket chat and completion protocol (mirrors api_models/chat.py) -------------
export type ContextKind =
  | 'cell'
  | 'neighbours'
  | 'selection'
  | 'error'
  | 'variables'
  | 'diagnostics'
  | 'file'
  | 'memories';

export interface IChatContext {
  notebook_path?: string | null;
  cell_id?: string | null;
  selection?: string | null;
  kernel_id?: string | null;
  /** The cursor's line in the current cell or file (0-based). */
  cursor_line?: number | null;
  exclude?: ContextKind[];
}

export interface IChatFrame {
  type: 'chat';
  id: string;
  conversation_id?: string | null;
  text: string;
  context?: IChatContext;
  /** Post to this notebook's shared chat (everyone who can open the notebook sees it live). */
  notebook?: string | null;
}

export interface ICancelFrame {
  type: 'cancel';
  id: string;
}

export interface ICompleteFrame {
  type: 'complete';
  id: string;
  prefix: string;
  suffix?: string;
  language?: string;
  path?: string | null;
}

export interface IPingFrame {
  type: 'ping';
  id?: string | null;
}

/** Follow a notebook's shared chat live (answered ``notebook.joined`` or ``error`` ``forbidden``). */
export interface INotebookJoinFrame {
  type: 'notebook.join';
  path: string;
}

export interface INotebookLeaveFrame {
  type: 'notebook.leave';
  path: string;
}

export type NotebookAction = 'inserted' | 'replaced' | 'ran';

/** Tell a notebook's collaborators what you did with an answer. */
export interface INotebookActivityFrame {
  type: 'notebook.activity';
  path: string;
  action: NotebookAction;
  message_id?: string | null;
  cell_id?: string | null;
}

export type NotebookClientFrame = INotebookJoinFrame | INotebookLeaveFrame | INotebookActivityFrame;

export type ClientFrame =
  | IChatFrame
  | ICancelFrame
  | ICompleteFrame
  | IGenerateFrame
  | IPingFrame
  | NotebookClientFrame;

export interface IContextItem {
  kind: ContextKind;
  label: string;
  preview: string;
  tokens: number;
  source?: string | null;
}

export interface ICitation {
  source: string;
  lines?: string | null;
  cell_id?: string | null;
  score: number;
}

export interface IMessage {
  id: string;
  role: 'user' | 'assistant' | 'system';
  content: string;
  model?: string | null;
  provider?: string | null;
  /** Who asked, in a notebook chat. */
  author?: string | null;
  created_at: string;
}

export interface IChatStartedFrame {
  type: 'chat.started';
  id: string;
  conversation_id: string;
  intent: string;
  context: IContextItem[];
  /** Who asked, in a notebook chat. */
  author?: string | null;
}

export interface IDeltaFrame {
  type: 'chat.delta' | 'complete.delta' | 'generate.delta';
  id: string;
  text: string;
}

export interface IRestartFrame {
  type: 'chat.restart' | 'generate.restart';
  id: string;
  reason: string;
  failed_model: string;
  next_model: string;
}

export type RouteOutcome =
  | 'ok'
  | 'error'
  | 'busy'
  | 'invalid'
  | 'repaired'
  | 'unconfigured'
  | 'blocked'
  | 'circuit_open'
  | 'unknown_provider';

/** Mirrors RouteStep: one model the router tried for a request, and what happened. */
export interface IRouteStep {
  provider: string;
  model: string;
  outcome: RouteOutcome;
  error?: string | null;
  /** With outcome ``busy``: seconds after which the model likely has room. */
  retry_after_s?: number | null;
}

export interface IChatDoneFrame {
  type: 'chat.done';
  id: string;
  conversation_id: string;
  message_id: string;
  interaction_id?: number | null;
  model: string;
  provider: string;
  ttft_ms?: number | null;
  latency_ms: number;
  tokens_out: number;
  fallback_path: IRouteStep[];
  citations: ICitation[];
  cancelled: boolean;
}

/** Mirrors HistoryTurn in api_models/. */
export interface IHistoryTurn {
  role: 'user' | 'assistant';
  content: string;
}

/** Mirrors GenerateFrame: ``/generate`` streamed over the websocket (the notebook magics use it). */
export interface IGenerateFrame {
  type: 'generate';
  id: string;
  task?: 'code_generation' | 'natural_language' | 'code_analysis';
  prompt: string;
  context?: { code?: string; error?: string; notebook_path?: string };
  history?: IHistoryTurn[];
  language?: string;
  max_tokens?: number;
}

/** Mirrors GenerateDoneFrame. */
export interface IGenerateDoneFrame {
  type: 'generate.done';
  id: string;
  text: string;
  model: string;
  provider: string;
  interaction_id: number | null;
  ttft_ms?: number | null;
  latency_ms: number;
  tokens_out: number;
  fallback_path: IRouteStep[];
  cancelled: boolean;
}

export interface ICompleteDoneFrame {
  type: 'complete.done';
  id: string;
  text: string;
  model: string;
  cancelled: boolean;
}

export interface IMessageBroadcastFrame {
  type: 'conversation.message';
  conversation_id: string;
  message: IMessage;
}

export interface IServerEventFrame {
  type: 'event';
  schema_id: string;
  data: Record<string, unknown>;
}

export interface IPongFrame {
  type: 'pong';
  id?: string | null;
  server_time: string;
}

export interface IErrorFrame {
  type: 'error';
  error: string;
  message: string;
  id?: string | null;
}

export interface INotebookJoinedFrame {
  type: 'notebook.joined';
  path: string;
  conversation_id: string;
  members: string[];
}

export interface INotebookMembersFrame {
  type: 'notebook.members';
  path: string;
  members: string[];
}

export interface INotebookActivityBroadcastFrame {
  type: 'notebook.activity';
  path: string;
  author: string;
  action: NotebookAction;
  message_id?: string | null;
  cell_id?: string | null;
}

export type ServerFrame =
  | INotebookJoinedFrame
  | INotebookMembersFrame
  | INotebookActivityBroadcastFrame
  | IChatStartedFrame
  | IDeltaFrame
  | IRestartFrame
  | IChatDoneFrame
  | ICompleteDoneFrame
  | IGenerateDoneFrame
  | IMessageBroadcastFrame
  | IServerEventFrame
  | IPongFrame
  | IErrorFrame;

// -- calls used by the panels ------------------------------------------------------------------------
export interface IConversationDetail extends IConversation {
  messages: IMessage[];
}

export function listConversations(): Promise<{ conversations: IConversation[] }> {
  return requestAPI('conversations');
}

export function getConversation(id: string): Promise<IConversationDetail> {
  return requestAPI(`conversations/${id}`);
}

export function renameConversation(id: string, title: string): Promise<IConversation> {
  return requestAPI(`conversations/${id}`, { method: 'PATCH', body: JSON.stringify({ title }) });
}

export function deleteConversation(id: string): Promise<void> {
  return requestAPI(`conversations/${id}`, { method: 'DELETE' });
}

/** Mirrors SlashCommandOut: a chat slash command the server understands. */
export interface ISlashCommandInfo {
  name: string;
  description: string;
  source: 'nexus' | 'plugin-intent' | 'plugin-command';
}

export function listSlashCommands(): Promise<{ commands: ISlashCommandInfo[] }> {
  return requestAPI('chat/commands');
}

/** The shared chat of a notebook (403 when the user cannot open the notebook). */
export function getNotebookChat(path: string): Promise<IConversationDetail> {
  return requestAPI(`notebooks/chat?path=${encodeURIComponent(path)}`);
}

export interface INotebookCellInsert {
  path: string;
  source: string;
  cell_type?: 'code' | 'markdown';
  index?: number | null;
  model?: string | null;
}

export interface INotebookCellInserted {
  path: string;
  cell_id: string;
  index: number;
  /** ``shared-document``: into the open collaborative document; ``file``: the notebook was not open. */
  via: 'shared-document' | 'file';
}

/** Insert a cell on the server (attributed to the caller), through the shared document when open. */
export function insertNotebookCell(body: INotebookCellInsert): Promise<INotebookCellInserted> {
  return requestAPI('notebooks/cells', { method: 'POST', body: JSON.stringify(body) });
}

export type GenerateTask = 'code_generation' | 'code_analysis' | 'natural_language';

export interface IGenerateRequest {
  task: GenerateTask;
  prompt: string;
  language?: string;
  context?: { code?: string; error?: string; notebook_path?: string };
}

export interface IGenerateReply {
  code: string;
  explanation: string;
  language: string;
  valid: boolean;
  provider: string;
  model: string;
  outcome: string;
  interaction_id: number | null;
  ttft_ms: number | null;
  latency_ms: number;
}

export function generate(body: IGenerateRequest): Promise<IGenerateReply> {
  return requestAPI('generate', { method: 'POST', body: JSON.stringify(body) });
}

/** Mirrors MetricsPoint in api_models/. */
export interface IMetricsPoint {
  at: string;
  requests: number;
  generations: number;
  latency_ms_p50: number | null;
  ttft_ms_p50: number | null;
  tokens_per_s: number | null;
  fallbacks: number;
  queue_pending: number;
  queue_running: number;
}

/** Mirrors MetricsSummary (the fields the dashboard reads). */
export interface IMetricsSummary {
  requests: number;
  errors: number;
  fallbacks: number;
  queue_pending: number;
  queue_running: number;
  series_interval_s: number;
  series: IMetricsPoint[];
}

export function fetchMetricsSummary(): Promise<IMetricsSummary> {
  return requestAPI('metrics/summary');
}

/** Mirrors CommandResult in api_models/. */
export interface ICommandResult {
  command: string;
  target: 'frontend' | 'intent' | 'server';
  executed: boolean;
  lab_command?: string | null;
  intent?: string | null;
  result?: unknown;
}

/** ``POST /commands/NAME``: server commands (plugins' included) run there and return their result. */
export function runCommand(name: string, text: string | null, args: Record<string, unknown> = {}): Promise<ICommandResult> {
  return requestAPI(`commands/${encodeURIComponent(name)}`, { method: 'POST', body: JSON.stringify({ text, args }) });
}

/** Mirrors FeedbackRequest in api_models/. */
export interface IFeedbackRequest {
  interaction_id: number;
  kind: 'up' | 'down' | 'accepted' | 'rejected' | 'edited';
  comment?: string;
  edited_text?: string;
}

/** Thumbs up / down on an answer (the learning system's input). */
export function sendFeedback(body: IFeedbackRequest): Promise<unknown> {
  return requestAPI('feedback', { method: 'POST', body: JSON.stringify(body) });
}

// -- voice --------------------------------------------------------------------------------------------
/** Mirrors VoiceCommandOut in api_models/. */
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

export interface ITranscriptSegment {
  /** Seconds from the start of the recording. */
  start: number;
  end: number;
  text: string;
  avg_logprob: number;
  no_speech_prob: number;
}

/** Mirrors TranscriptionReply: what ``POST /voice/transcribe`` answers. */
export interface IVoiceReply {
  text: string;
  segments?: ITranscriptSegment[];
  language?: string;
  language_probability?: number;
  duration_s?: number;
  no_speech_prob?: number;
  /** decode_ms, queue_ms, load_ms, transcribe_ms, map_ms, total_ms. */
  timings_ms?: Record<string, number>;
  model?: string;
  /** Absent with ``?commands=false``. */
  command?: IVoiceDecision | null;
}

// -- provider API keys (mirrors api_models/secrets.py) ---------------------------------------------
export type SecretScope = 'user' | 'server';

/** A key to store; no response ever contains it again. */
export interface IProviderSecretIn {
  api_key: string;
}

export interface IProviderSecretOut {
  provider: string;
  scope: SecretScope;
  set: boolean;
  updated_at: string | null;
}

/** Which keys are set for one remote provider of the routing file; never a key itself. */
export interface IProviderSecretState {
  provider: string;
  kind: string;
  user_key_set: boolean;
  user_key_updated_at: string | null;
  server_key_set: boolean;
  server_key_updated_at: string | null;
  environment_key_set: boolean;
  in_use: 'user' | 'server' | 'environment' | null;
}

export interface IProviderSecretList {
  providers: IProviderSecretState[];
}

export function listProviderSecrets(): Promise<IProviderSecretList> {
  return requestAPI('secrets');
}

/** Set or replace a provider key: the caller's own (`user`) or the server-wide one (`server`, admins). */
export function setProviderSecret(
  provider: string,
  apiKey: string,
  scope: SecretScope = 'user'
): Promise<IProviderSecretOut> {
  const body: IProviderSecretIn = { api_key: apiKey };
  return requestAPI(`secrets/${scope}/${encodeURIComponent(provider)}`, {
    method: 'PUT',
    body: JSON.stringify(body)
  });
}

export function deleteProviderSecret(provider: string, scope: SecretScope = 'user'): Promise<void> {
  return requestAPI(`secrets/${scope}/${encodeURIComponent(provider)}`, { method: 'DELETE' });
}

// -- background tasks and the events NEXUS puts on Jupyter's event bus (event_schemas/*/v1.yaml) ----
export type TaskState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

/** Mirrors TaskOut in api_models/. */
export interface ITask {
  id: string;
  kind: string;
  state: TaskState;
  progress: number;
  message: string;
  error?: string | null;
  result?: Record<string, unknown> | null;
  attempts: number;
  retry_of?: string | null;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
}

export function listTasks(): Promise<{ tasks: ITask[] }> {
  return requestAPI('tasks');
}

/** Cancel a pending or running task (learning a folder, building an environment). */
export function cancelTask(id: string): Promise<ITask> {
  return requestAPI(`tasks/${id}/cancel`, { method: 'POST' });
}

/** Mirrors LearnProgressOut in api_models/. */
export interface ILearnProgress {
  id: string;
  task_id?: string | null;
  target: string;
  state: 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  progress: number;
  files_total: number;
  files_done: number;
  files_indexed: number;
  files_unchanged: number;
  files_removed: number;
  chunks_added: number;
  errors: string[];
}

/** Learn a folder, file or glob into the caller's memory (a cancellable ``learn`` task). */
export function learn(path: string): Promise<ILearnProgress> {
  return requestAPI('memory/learn', { method: 'POST', body: JSON.stringify({ path }) });
}

export { EventSchemas } from './events';

/** event_schemas/tasks/v1.yaml */
export interface ITaskEvent {
  task_id: string;
  kind: string;
  state: TaskState;
  progress: number;
  message?: string;
  username?: string;
}

/** event_schemas/learn/v1.yaml */
export interface ILearnEvent {
  task_id?: string | null;
  trigger: 'request' | 'watch';
  target: string;
  state: 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  progress?: number;
  current?: string;
  files_total: number;
  files_done: number;
  files_indexed?: number;
  files_unchanged?: number;
  files_removed?: number;
  chunks_added?: number;
  username?: string;
}

/** event_schemas/model/v1.yaml */
export interface IModelEvent {
  model: string;
  backend: string;
  state: 'loading' | 'loaded' | 'failed';
  device?: string | null;
  seconds?: number | null;
  error?: string | null;
}

/** event_schemas/plugins/v1.yaml */
export interface IPluginEvent {
  plugin: string;
  group?: string | null;
  stage: 'load' | 'run';
  command?: string | null;
  error: string;
  username?: string | null;
}

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
