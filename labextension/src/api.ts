/**
 * NEXUS server types and calls. The interfaces mirror the pydantic models in
 * nexus_server_ext/api_models.py: change both together.
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
