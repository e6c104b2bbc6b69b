/**
 * Cells NEXUS wrote carry ``metadata.nexus`` (who asked, which model); every
 * collaborator's view shows it as a small "NEXUS for Alice" tag on the cell,
 * so nobody mistakes a generated cell for a colleague's own code.
 */
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import type { INexusCellMeta } from '../workspace';

/** The tag text for a cell's ``metadata.nexus``, or null for a cell NEXUS did not write. */
export function attributionLabel(meta: unknown): string | null {
  const m = meta as Partial<INexusCellMeta> | undefined;
  if (!m || !m.generated) {
    return null;
  }
  if (m.agent === 'nexus') {
    return m.requested_by ? `NEXUS agent for ${m.requested_by}` : 'NEXUS agent';
  }
  const via = m.agent ? ` via ${m.agent}` : ''; // an outside agent (an MCP client) acting for the person
  return m.requested_by ? `NEXUS for ${m.requested_by}${via}` : `NEXUS${via}`;
}

function markCells(panel: NotebookPanel): void {
  for (const cell of panel.content.widgets) {
    const label = attributionLabel(cell.model.getMetadata('nexus'));
    if (label) {
      cell.node.dataset.nexusBy = label;
      cell.addClass('jp-nexus-generated');
    } else if (cell.hasClass('jp-nexus-generated')) {
      delete cell.node.dataset.nexusBy;
      cell.removeClass('jp-nexus-generated');
    }
  }
}

/** Keep the tags of every open notebook in step with its cells (local and remote edits alike). */
export function trackAttribution(notebooks: INotebookTracker): void {
  notebooks.widgetAdded.connect((_, panel) => {
    let queued = false;
    const schedule = () => {
      if (!queued) {
        queued = true;
        requestAnimationFrame(() => {
          queued = false;
          if (!panel.isDisposed) {
            markCells(panel);
          }
        });
      }
    };
    void panel.context.ready.then(schedule);
    panel.content.modelContentChanged.connect(schedule);
  });
}
