/**
 * The ids of the event schemas NEXUS registers on Jupyter's event bus
 * (``nexus_server_ext/event_schemas/<area>/v1.yaml``; the payload types are in
 * api.ts). JupyterLab receives the events on ``app.serviceManager.events``.
 */
export const EventSchemas = {
  task: 'https://events.nexus-jupyter.org/tasks/v1',
  learn: 'https://events.nexus-jupyter.org/learn/v1',
  model: 'https://events.nexus-jupyter.org/model/v1',
  plugin: 'https://events.nexus-jupyter.org/plugins/v1',
  voiceCommand: 'https://events.nexus-jupyter.invalid/voice/command/v1'
} as const;
