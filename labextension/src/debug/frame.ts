/**
 * "Explain the paused frame": what the debug panel asks the chat while JupyterLab's debugger is
 * stopped at a breakpoint. The question names where it stopped (the function, the line, the cell or
 * file) and lists the frame's variables, scope by scope. Pure (the debugger model is read through
 * the few fields used, the chat through its ``ask``), so it is unit-tested without a browser.
 *
 * The question is sent as ``/explain``: the intent is certain (no classifier guess can turn it into a
 * fix or a command), and its words do not ask about an error, so an older error of the notebook is
 * not taken for the subject (``chat/context.ts`` ``aboutError``, the server's rule too).
 */

/** The fields of the debugger's ``IStackFrame`` (a DAP stack frame) the question uses. */
export interface IPausedFrame {
  name: string;
  line: number;
  source?: { name?: string; path?: string };
}

export interface IFrameVariable {
  name: string;
  value: string;
  type?: string;
}

export interface IFrameScope {
  name: string;
  variables: IFrameVariable[];
}

/** What of JupyterLab's ``IDebugger.Model`` is read: the current frame and its variables' scopes. */
export interface IPausedDebugger {
  callstack: { frame: IPausedFrame | null };
  variables: { scopes: IFrameScope[] };
}

export const MAX_VARIABLES = 40; // per scope
export const MAX_VALUE_CHARS = 200;

// A notebook cell runs from a temporary file of its kernel (ipykernel, xeus-python).
const CELL_FILE = /(ipykernel|xpython)_\d+[/\\]/;
// debugpy's groups ("special variables"), dunders, IPython's own names and its history variables
// (_, __, _3, _i3, _ih, _oh, _dh); a user's own _name is kept.
const HIDDEN =
  /^(special|function|class|protected) variables$|^__\w+__$|^(_+\d*|_i+\d*|_[iod]h|_exit_code|In|Out|get_ipython|exit|quit)$/;

/** "in area() at line 3 of the cell" / "at line 12 of utils.py" (a file by its name, not its path). */
export function frameLocation(frame: IPausedFrame): string {
  const path = frame.source?.path ?? frame.source?.name ?? '';
  const file = CELL_FILE.test(path) ? 'the cell' : path.split(/[/\\]/).pop() || 'an unknown file';
  const inside = frame.name && frame.name !== '<module>' ? `in ${frame.name}() ` : '';
  return `${inside}at line ${frame.line} of ${file}`;
}

/** One line per variable, the innermost scope first; a name shown once (a cell's top level has its
 * globals as locals too). Multi-line values (a DataFrame's repr) are folded onto their line. */
export function frameVariables(scopes: IFrameScope[]): string[] {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const scope of scopes) {
    const shown = scope.variables.filter(v => !HIDDEN.test(v.name) && v.type !== 'module' && !seen.has(v.name));
    for (const v of shown.slice(0, MAX_VARIABLES)) {
      seen.add(v.name);
      const value = String(v.value).trim().replace(/\s*\n\s*/g, ' ').slice(0, MAX_VALUE_CHARS);
      lines.push(`${scope.name}.${v.name}: ${v.type ?? ''} = ${value}`);
    }
  }
  return lines;
}

/** The chat message that asks about ``frame``. */
export function framePrompt(frame: IPausedFrame, scopes: IFrameScope[]): string {
  const variables = frameVariables(scopes);
  return (
    `/explain The debugger is paused ${frameLocation(frame)}. ` +
    'Explain what the code does at this line and whether the values below are what it expects.\n' +
    `Variables:\n${variables.join('\n') || '(none)'}`
  );
}

/** Ask the chat about the paused frame; the question asked, or null when nothing is paused (or no chat). */
export async function explainPausedFrame(
  model: IPausedDebugger | null | undefined,
  ask: ((text: string) => Promise<void>) | null
): Promise<string | null> {
  const frame = model?.callstack.frame;
  if (!model || !frame || !ask) {
    return null;
  }
  const question = framePrompt(frame, model.variables.scopes);
  await ask(question);
  return question;
}
