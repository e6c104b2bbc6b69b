/**
 * The model dashboard's catalogue, in words: which buttons a model gets (Pull, Resume, Cancel, Use)
 * and how a pull's progress reads. Pure functions, unit-tested without a browser; the DOM is
 * ``catalog.ts``'s.
 */
import type { ICatalogModel, IModelCatalog, IModelPull } from '../api';

export type ModelAction = 'pull' | 'resume' | 'cancel' | 'use';

export const ACTION_LABELS: Record<ModelAction, string> = {
  pull: 'Pull',
  resume: 'Resume pull',
  cancel: 'Cancel',
  use: 'Use'
};

/** Bytes as the server writes them (``format_size``): 1024-based, one decimal. */
export function formatSize(bytes: number): string {
  let n = bytes;
  for (const unit of ['bytes', 'KB', 'MB', 'GB']) {
    if (n < 1024 || unit === 'GB') {
      return unit === 'bytes' ? `${n} bytes` : `${n.toFixed(1)} ${unit}`;
    }
    n /= 1024;
  }
  return `${bytes} bytes`;
}

export function isRunning(pull: IModelPull): boolean {
  return pull.state === 'running' || pull.state === 'verifying';
}

/** The pull of ``name`` the dashboard follows: a running one, else the newest. */
export function pullOf(catalog: IModelCatalog, name: string): IModelPull | undefined {
  const pulls = catalog.pulls.filter(p => p.name === name);
  return pulls.find(isRunning) ?? pulls[0];
}

/** The buttons a model gets. Pulling and switching change the whole server: none when it cannot. */
export function modelActions(model: ICatalogModel, catalog: IModelCatalog): ModelAction[] {
  const pull = pullOf(catalog, model.name);
  if (pull && isRunning(pull)) {
    return ['cancel'];
  }
  if (model.in_use) {
    return [];
  }
  if (model.pulled) {
    return catalog.switchable ? ['use'] : [];
  }
  return [model.partial_bytes > 0 ? 'resume' : 'pull'];
}

/** "qwen2.5-coder-1.5b · 1.0 GB · a laptop CPU with 8 GB+ of memory · in use". */
export function modelLine(model: ICatalogModel): string {
  const state = model.in_use ? 'in use' : model.pulled && !model.bundled ? 'pulled' : '';
  const partial = !model.pulled && model.partial_bytes > 0 ? `${percent(model.partial_bytes, model.size_bytes)}% pulled` : '';
  return [model.name, formatSize(model.size_bytes), model.hardware, state || partial].filter(Boolean).join(' · ');
}

function percent(done: number, total: number): number {
  return total > 0 ? Math.floor((100 * done) / total) : 0;
}

/** A pull's progress: the bar's value (null: no bar) and a sentence. */
export function pullProgress(pull: IModelPull): { percent: number | null; text: string } {
  const of = pull.total_bytes > 0 ? ` (${formatSize(pull.done_bytes)} of ${formatSize(pull.total_bytes)})` : '';
  const done = percent(pull.done_bytes, pull.total_bytes);
  switch (pull.state) {
    case 'running': {
      if (pull.total_bytes === 0) {
        return { percent: 0, text: 'Asking the Hugging Face Hub…' };
      }
      const resumed = pull.resumed_from_bytes > 0 ? `, resumed at ${percent(pull.resumed_from_bytes, pull.total_bytes)}%` : '';
      return { percent: done, text: `Downloading ${done}%${of}${resumed}` };
    }
    case 'verifying':
      return { percent: 100, text: 'Checking the SHA-256 checksum…' };
    case 'done':
      return { percent: null, text: pull.note ?? 'Pulled and verified.' };
    case 'failed':
      return { percent: null, text: `The pull failed: ${pull.error ?? 'no reason was given.'}` };
    case 'cancelled':
      return { percent: null, text: `Cancelled at ${done}%: Resume pull continues from there.` };
  }
}
