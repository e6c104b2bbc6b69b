/**
 * The "NEXUS: Show status" dialog in words: one row per component, one row per task with its chain
 * of models (each marked configured, no key, not configured or blocked), and the sentence that says
 * plainly when a chain's paid providers have no key. Pure functions, unit-tested without a browser;
 * the DOM is ``dialog.ts``'s.
 */
import type { IStatusReply } from '../api';
import { mcpServerLine } from '../monitor/mcp';

export type IComponent = IStatusReply['components'][number];
export type IChainStep = IStatusReply['models'][number]['chain'][number];
export type ComponentState = IComponent['state'];
/** A step's setup, or `blocked` when the admin policy skips it whatever its setup. */
export type StepMark = IChainStep['setup'] | 'blocked';

/** The label of the dialog's button that runs "NEXUS: Set provider API key". */
export const SET_KEY_LABEL = 'Set provider API key';

const STATE_LABELS: Record<ComponentState, string> = {
  ok: 'ok',
  degraded: 'limited',
  unavailable: 'unavailable'
};

const MARK_LABELS: Record<StepMark, string> = {
  configured: 'configured',
  no_key: 'no key',
  not_configured: 'not configured',
  blocked: 'blocked'
};

const HOSTING_LABELS: Record<IChainStep['hosting'], string> = {
  local: 'runs in this server',
  paid_api: 'paid API',
  gateway: 'gateway'
};

/** What each task is for, as a user knows it (the routing file's names in the row's tooltip). */
const TASK_LABELS: Record<string, string> = {
  natural_language: 'Chat',
  code_generation: 'Code generation',
  code_analysis: 'Code analysis',
  completion: 'Inline completion',
  embeddings: 'Embeddings',
  agent: 'Agent'
};

/** How the sentence names a provider of the shipped routing file; any other by its own name. */
const PROVIDER_NAMES: Record<string, string> = {
  openai: 'OpenAI',
  anthropic: 'Anthropic',
  gateway: 'the gateway'
};

export interface IComponentRow {
  name: string;
  state: ComponentState;
  stateLabel: string;
  detail: string;
}

export interface IStepView {
  /** `provider/model` */
  label: string;
  mark: StepMark;
  markLabel: string;
  /** Where it runs and why it is skipped, for the step's tooltip. */
  title: string;
  /** The first step the router uses now: the one that answers while it works. */
  answers: boolean;
}

export interface IChainRow {
  task: string;
  label: string;
  steps: IStepView[];
}

export function componentRows(status: IStatusReply): IComponentRow[] {
  return status.components.map(c => ({
    name: c.name.replace(/_/g, ' '),
    state: c.state,
    stateLabel: STATE_LABELS[c.state],
    detail: [c.detail, c.state !== 'ok' ? c.install_hint : null].filter(Boolean).join(' - ')
  }));
}

export function stepMark(step: IChainStep): StepMark {
  return step.blocked ? 'blocked' : step.setup;
}

export function taskLabel(task: string): string {
  return TASK_LABELS[task] ?? task.replace(/_/g, ' ');
}

/** The step that answers a chain while every step works: the first one the router does not skip. */
export function answeringStep(chain: IChainStep[]): IChainStep | undefined {
  return chain.find(s => stepMark(s) === 'configured');
}

export function chainRows(status: IStatusReply): IChainRow[] {
  return status.models.map(route => {
    const first = answeringStep(route.chain);
    return {
      task: route.task,
      label: taskLabel(route.task),
      steps: route.chain.map(step => {
        const mark = stepMark(step);
        const why = step.blocked ? `; ${step.blocked}` : mark === 'configured' ? '' : '; skipped';
        return {
          label: `${step.provider}/${step.model}`,
          mark,
          markLabel: MARK_LABELS[mark],
          title: `${HOSTING_LABELS[step.hosting]}${why}`,
          answers: step === first
        };
      })
    };
  });
}

function providerName(provider: string): string {
  return PROVIDER_NAMES[provider] ?? provider;
}

/** "a", "a and b", "a, b and c" */
export function listing(items: string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function answerer(step: IChainStep | undefined): string {
  if (!step) {
    return '';
  }
  return step.hosting === 'local' ? `the local model (${step.model})` : `${step.provider}/${step.model}`;
}

/**
 * "OpenAI and Anthropic have no key: chat and the agent answer with the local model
 * (SmolLM2-135M-Instruct). Set keys with NEXUS: Set provider API key." - or null when every paid
 * provider of every chain has a key (or is blocked by the policy, where a key would not help).
 */
export function missingKeySentence(status: IStatusReply): string | null {
  const missing: string[] = [];
  const byAnswer = new Map<string, string[]>();
  for (const route of status.models) {
    const unpaid = route.chain.filter(s => s.hosting === 'paid_api' && stepMark(s) === 'no_key');
    if (!unpaid.length) {
      continue;
    }
    for (const step of unpaid) {
      if (!missing.includes(step.provider)) {
        missing.push(step.provider);
      }
    }
    const who = answerer(answeringStep(route.chain));
    byAnswer.set(who, [...(byAnswer.get(who) ?? []), route.task]);
  }
  if (!missing.length) {
    return null;
  }
  const outcomes = [...byAnswer].map(([who, tasks]) => {
    const names = listing(tasks.map(t => (t === 'agent' ? 'the agent' : taskLabel(t).toLowerCase())));
    if (!who) {
      return `${names} ${tasks.length === 1 ? 'gets' : 'get'} no answer`;
    }
    return `${names} ${tasks.length === 1 ? 'answers' : 'answer'} with ${who}`;
  });
  const names = listing(missing.map(providerName));
  const has = missing.length === 1 ? 'has' : 'have';
  return `${names[0].toUpperCase()}${names.slice(1)} ${has} no key: ${outcomes.join('; ')}. Set keys with NEXUS: ${SET_KEY_LABEL}.`;
}

/** "sqlite:///.../nexus.db, revision 0007: ok" (the URL as the server hides it) */
export function storageLine(status: IStatusReply): string {
  const { backend, url, revision, healthy } = status.storage;
  const where = url.startsWith(backend) ? url : `${backend} ${url}`.trim();
  const at = revision ? `, revision ${revision}` : '';
  return `${where}${at}: ${healthy ? 'ok' : 'unavailable'}`;
}

export function mcpLines(status: IStatusReply): string[] {
  return (status.mcp_servers ?? []).map(mcpServerLine);
}

/** "NEXUS 0.1.0 for Ada" */
export function heading(status: IStatusReply): string {
  return `NEXUS ${status.version} for ${status.display_name || status.user}`;
}
