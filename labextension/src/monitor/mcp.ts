/**
 * The model dashboard's list of MCP servers (``/status``'s ``mcp_servers``): the servers an
 * administrator listed, whose allowed tools NEXUS's agent may call.
 */
import type { IStatusReply } from '../api';

export type IMCPServer = IStatusReply['mcp_servers'][number];

/** One line per MCP server the agent may use: its state, its allowed tools, its last error. */
export function mcpServerLine(server: IMCPServer): string {
  const tools = server.tools.map(t => (t.kind === 'read' ? `${t.tool} (read-only)` : t.tool));
  const what = server.state === 'connected' ? `${tools.length} tool${tools.length === 1 ? '' : 's'}: ${tools.join(', ') || 'none allowed'}` : server.state;
  const error = server.state === 'failed' && server.last_error ? ` - ${server.last_error}` : '';
  return `${server.name} (${server.transport ?? 'misconfigured'}${server.target ? ` ${server.target}` : ''}): ${what}${error}`;
}
