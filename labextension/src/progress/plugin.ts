/**
 * Live progress in JupyterLab: the plugin subscribes to Jupyter's event bus
 * (``app.serviceManager.events``: the ``/api/events/subscribe`` websocket) and
 * shows NEXUS's long operations as progress bars with Cancel in the status bar.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Event } from '@jupyterlab/services';
import { IStatusBar } from '@jupyterlab/statusbar';

import { cancelTask, fetchStatus } from '../api';
import { Emission, ProgressTracker } from './tracker';
import { ProgressArea } from './widget';

const MODEL_POLL_MS = 2000;
// A server that loads its model when the first page talks to it answers this page's first /status
// before the load has begun ("not loaded"), and the load's first event can come before this page's
// event stream is open: so "not loaded" is asked about again a few times, not taken as final.
const NOT_LOADED_POLLS = 5;

export const progressPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nexus-jupyterlab:progress',
  description: 'Progress bars with Cancel for learning a folder, building an environment and loading a model.',
  autoStart: true,
  requires: [IStatusBar],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar) => {
    const tracker = new ProgressTracker();
    const area = new ProgressArea(tracker, cancelTask);
    area.id = 'nexus-progress';
    statusBar.registerStatusItem('nexus-jupyterlab:progress', { item: area, align: 'middle', rank: 10 });
    app.serviceManager.events.stream.connect((_: Event.IManager, emission: Event.Emission) => {
      tracker.handle(emission as unknown as Emission);
    });
    // Only this user's operations (a shared server's bus carries everyone's); and a model load that
    // began before this page subscribed, followed through /status until it ends.
    let notLoadedPolls = 0;
    const check = async (): Promise<void> => {
      try {
        const status = await fetchStatus();
        tracker.user = status.user;
        const model = status.components.find(c => c.name === 'local_model');
        const detail = model?.detail ?? '';
        const loading = detail.startsWith('loading');
        tracker.modelLoading(loading);
        const notYet = detail.startsWith('not loaded') && ++notLoadedPolls <= NOT_LOADED_POLLS;
        if (loading || notYet) {
          window.setTimeout(() => void check(), MODEL_POLL_MS);
        }
      } catch {
        // NEXUS unreachable: the health item says so
      }
    };
    void check();
  }
};
