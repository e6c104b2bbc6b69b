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
    // Only this user's operations (a shared server's bus carries everyone's).
    void fetchStatus()
      .then(status => (tracker.user = status.user))
      .catch(() => undefined);
  }
};
