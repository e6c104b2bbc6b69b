/**
 * Model output is untrusted. Rendermime with ``trusted: false`` already
 * strips scripts and event-handler attributes; this second pass removes what
 * the sanitiser leaves but JupyterLab would still act on: command-linker
 * attributes (a click would run a JupyterLab command), forms, inputs and
 * ``javascript:`` links. Decisions are pure functions; ``neutralise`` applies
 * them to a rendered DOM subtree.
 */

const INERT_TAGS = new Set(['FORM', 'INPUT', 'BUTTON', 'SELECT', 'TEXTAREA', 'IFRAME', 'OBJECT', 'EMBED', 'SCRIPT', 'STYLE']);
const URL_ATTRIBUTES = new Set(['href', 'src', 'action', 'formaction', 'xlink:href', 'srcset', 'poster']);

/** Whether an attribute on model-produced HTML must go. */
export function isUnsafeAttribute(name: string, value: string): boolean {
  const n = name.toLowerCase();
  if (n.startsWith('on') || n.startsWith('data-commandlinker') || n === 'style' || n === 'formaction') {
    return true;
  }
  if (URL_ATTRIBUTES.has(n)) {
    const v = value.replace(/[\s\u0000-\u001f]/g, '').toLowerCase();
    return v.startsWith('javascript:') || v.startsWith('vbscript:') || (v.startsWith('data:') && !v.startsWith('data:image/'));
  }
  return false;
}

/** Elements that are replaced by their text: nothing in an answer may submit or embed. */
export function isInertTag(tagName: string): boolean {
  return INERT_TAGS.has(tagName.toUpperCase());
}

/** Strip unsafe attributes and replace interactive elements in ``root``; returns how many things it removed. */
export function neutralise(root: Element): number {
  let removed = 0;
  for (const el of Array.from(root.querySelectorAll('*'))) {
    if (isInertTag(el.tagName)) {
      const span = el.ownerDocument.createElement('span');
      span.className = 'jp-nexus-inert';
      span.textContent = el.textContent ?? '';
      el.replaceWith(span);
      removed += 1;
      continue;
    }
    for (const attr of Array.from(el.attributes)) {
      if (isUnsafeAttribute(attr.name, attr.value)) {
        el.removeAttribute(attr.name);
        removed += 1;
      }
    }
    if (el.tagName === 'A') {
      el.setAttribute('target', '_blank');
      el.setAttribute('rel', 'noopener noreferrer');
    }
  }
  return removed;
}
