/**
 * The microphone button in the chat panel: record with MediaRecorder, send
 * the audio to the voice endpoint, show the transcript, then run the
 * recognised JupyterLab command or server command (asking first for
 * destructive or uncertain ones) or put the text into the prompt.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';

import { NexusAPIError, runCommand, transcribe } from '../api';
import { micIcon } from '../icons';
import { IVoiceEffects, performVoiceReply } from './perform';

export class VoiceButton {
  readonly node = document.createElement('button');

  constructor(
    private app: JupyterFrontEnd,
    private setPrompt: (text: string) => void
  ) {
    this.node.className = 'jp-nexus-button jp-nexus-voice';
    this.node.appendChild(micIcon.element({ tag: 'span', className: 'jp-nexus-button-icon' }));
    this.node.title = 'Speak a command or a question (click again to stop)';
    this.node.setAttribute('aria-label', 'Voice input');
    this.node.addEventListener('click', () => void this.toggle());
  }

  set enabled(on: boolean) {
    this.node.hidden = !on || typeof MediaRecorder === 'undefined';
  }

  async toggle(): Promise<void> {
    if (this._recorder) {
      this._recorder.stop();
      return;
    }
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      Notification.error(`NEXUS voice: the microphone is not available (${(err as Error).message}).`, { autoClose: 6000 });
      return;
    }
    const chunks: Blob[] = [];
    const recorder = new MediaRecorder(stream);
    this._recorder = recorder;
    this.node.classList.add('jp-mod-recording');
    recorder.ondataavailable = ev => chunks.push(ev.data);
    recorder.onstop = () => {
      stream.getTracks().forEach(t => t.stop());
      this._recorder = null;
      this.node.classList.remove('jp-mod-recording');
      void this._handle(new Blob(chunks, { type: recorder.mimeType || 'audio/webm' }));
    };
    recorder.start();
  }

  private async _handle(audio: Blob): Promise<void> {
    this.node.disabled = true;
    try {
      await performVoiceReply(await transcribe(audio), this._effects);
    } catch (err) {
      const message = err instanceof NexusAPIError ? err.message : (err as Error).message;
      Notification.error(`NEXUS voice: ${message}`, { autoClose: 6000 });
    } finally {
      this.node.disabled = false;
    }
  }

  private _effects: IVoiceEffects = {
    hasCommand: id => this.app.commands.hasCommand(id),
    execute: id => this.app.commands.execute(id),
    runServerCommand: (name, text) => runCommand(name, text),
    confirm: async (title, body) => {
      const answer = await showDialog({ title, body, buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Run' })] });
      return answer.button.accept;
    },
    setPrompt: text => this.setPrompt(text),
    notify: (kind, message) => void (kind === 'success' ? Notification.success(message, { autoClose: 6000 }) : Notification.info(message, { autoClose: 4000 }))
  };

  private _recorder: MediaRecorder | null = null;
}
