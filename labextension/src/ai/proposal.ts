/**
 * Whether a model's proposal is an edit worth offering. A proposal that changes nothing, only moves
 * whitespace, repeats the code it was given, lacks what the action is for (a docstring, a test) or
 * does not parse is not shown with Accept: the user is told what the model did instead.
 */

/** What an action's result must contain (a docstring, a test), and what to say when it does not. */
export interface IRequirement {
  pattern: RegExp;
  missing: string;
}

/** Lines with content, trailing whitespace dropped: what a change is made of. */
function contentLines(code: string): string[] {
  return code
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map(l => l.replace(/\s+$/, ''))
    .filter(l => l.trim());
}

/** Why ``after`` is not worth offering in place of (or below) ``before``, or null when it is. */
export function proposalProblem(
  before: string,
  after: string,
  placement: 'replace' | 'below',
  valid = true,
  requires?: IRequirement
): string | null {
  const old = contentLines(before);
  const proposed = contentLines(after);
  if (!proposed.length) {
    return 'the model proposed no code';
  }
  if (!valid) {
    return 'the code the model proposed does not parse';
  }
  if (placement === 'replace' && old.join('\n') === proposed.join('\n')) {
    return after.trim() === before.trim() ? 'the model proposed no change' : 'the model changed only blank lines or spacing';
  }
  const known = new Set(old.map(l => l.trim()));
  if (placement === 'below' && proposed.every(l => known.has(l.trim()))) {
    return 'the model only repeated the code';
  }
  if (requires) {
    const added = proposed.filter(l => !known.has(l.trim())).join('\n');
    if (!requires.pattern.test(added)) {
      return requires.missing;
    }
  }
  return null;
}
