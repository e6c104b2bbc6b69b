/**
 * Provenance in the notebook: the ``%nexus`` magics put what answered (model,
 * provider, prompt id, interaction id) into their output's metadata under
 * ``nexus_cell``; a kernel cannot write the notebook, so this copies it into
 * the cell's own ``metadata.nexus`` when the output arrives or is updated. Other
 * keys under ``metadata.nexus`` (collaboration attribution) are kept.
 */
import type { ICodeCellModel } from '@jupyterlab/cells';
import type { INotebookTracker } from '@jupyterlab/notebook';

export const OUTPUT_KEY = 'nexus_cell';
export const CELL_KEY = 'nexus';
const FIELDS = ['model', 'provider', 'prompt_id', 'interaction_id'] as const;

export type Provenance = Partial<Record<(typeof FIELDS)[number], unknown>>;

/** The provenance of the newest output that carries one, or null. */
export function latestProvenance(outputMetadata: (Record<string, unknown> | undefined)[]): Provenance | null {
  for (let i = outputMetadata.length - 1; i >= 0; i--) {
    const found = outputMetadata[i]?.[OUTPUT_KEY];
    if (found && typeof found === 'object' && (found as Provenance).model) {
      const picked: Provenance = {};
      for (const field of FIELDS) {
        const value = (found as Provenance)[field];
        if (value !== undefined && value !== null && value !== '') {
          picked[field] = value;
        }
      }
      return picked;
    }
  }
  return null;
}

/** ``current`` with ``found`` merged in, or null when nothing would change. */
export function mergeProvenance(current: unknown, found: Provenance): Record<string, unknown> | null {
  const base = current && typeof current === 'object' ? (current as Record<string, unknown>) : {};
  const next: Record<string, unknown> = { ...base };
  for (const field of FIELDS) {
    delete next[field]; // a new answer replaces all of the old one's provenance
  }
  Object.assign(next, found);
  return JSON.stringify(next) === JSON.stringify(base) ? null : next;
}

function follow(cell: ICodeCellModel, followed: WeakSet<object>): void {
  if (followed.has(cell)) {
    return;
  }
  followed.add(cell);
  const copy = () => {
    const metadata: (Record<string, unknown> | undefined)[] = [];
    for (let i = 0; i < cell.outputs.length; i++) {
      metadata.push(cell.outputs.get(i).metadata as Record<string, unknown> | undefined);
    }
    const found = latestProvenance(metadata);
    const next = found && mergeProvenance(cell.getMetadata(CELL_KEY), found);
    if (next) {
      cell.setMetadata(CELL_KEY, next);
    }
  };
  cell.outputs.changed.connect(copy);
}

/** Follow every code cell of every open notebook. */
export function trackProvenance(notebooks: INotebookTracker): void {
  const followed = new WeakSet<object>();
  notebooks.widgetAdded.connect((_, panel) => {
    void panel.context.ready.then(() => {
      const cells = panel.content.model?.cells;
      if (!cells) {
        return;
      }
      const visit = () => {
        for (let i = 0; i < cells.length; i++) {
          const cell = cells.get(i);
          if (cell.type === 'code') {
            follow(cell as ICodeCellModel, followed);
          }
        }
      };
      visit();
      cells.changed.connect(visit);
    });
  });
}
