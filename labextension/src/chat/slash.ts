/**
 * Slash commands in the chat prompt: ``/explain``, ``/new`` … Other extensions
 * add their own through the ``INexusChat`` token. Matching and parsing are
 * pure so the completion popup's behaviour is unit-tested.
 */

export interface ISlashCommand {
  name: string;
  description: string;
  /**
   * Turn the rest of the line into the text sent to the model, or return
   * null when the command is handled entirely in the browser.
   */
  run(rest: string): string | null | Promise<string | null>;
}

/** Commands whose name starts with what the user typed after "/" (only while typing the name). */
export function matchSlash(input: string, commands: readonly ISlashCommand[]): ISlashCommand[] {
  const m = /^\/([\w-]*)$/.exec(input);
  if (!m) {
    return [];
  }
  const typed = m[1].toLowerCase();
  return commands
    .filter(c => c.name.toLowerCase().startsWith(typed))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Whether ``input`` is exactly a command's name (``/help``): Enter then sends it, as typed, instead
 * of completing it (Tab still completes).
 */
export function namesCommand(input: string, commands: readonly ISlashCommand[]): boolean {
  const m = /^\/([\w-]+)$/.exec(input.trim());
  return m !== null && commands.some(c => c.name.toLowerCase() === m[1].toLowerCase());
}

/** ``/name rest`` -> the command and the rest, or null when the text is not a known command. */
export function parseSlash(
  input: string,
  commands: readonly ISlashCommand[]
): { command: ISlashCommand; rest: string } | null {
  const m = /^\/([\w-]+)(?:\s+([\s\S]*))?$/.exec(input.trim());
  if (!m) {
    return null;
  }
  const command = commands.find(c => c.name.toLowerCase() === m[1].toLowerCase());
  return command ? { command, rest: (m[2] ?? '').trim() } : null;
}
