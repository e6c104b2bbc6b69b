/**
 * "NEXUS: Set provider API key" and "NEXUS: Remove provider API key": the user's own keys (or, for
 * administrators, the server-wide ones) for the remote providers of the routing file. A key is typed
 * into a password field and sent once; the server never shows it again.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, Notification } from '@jupyterlab/apputils';

import { deleteProviderSecret, listProviderSecrets, NexusAPIError, SecretScope, setProviderSecret } from '../api';
import { describeSecretState, providerOfLabel } from './state';

export namespace SecretCommandIDs {
  export const setKey = 'nexus:set-provider-key';
  export const removeKey = 'nexus:remove-provider-key';
}

const SCOPES: Record<string, SecretScope> = {
  'Only for me': 'user',
  'For everyone on this server (administrators)': 'server'
};

async function pick(title: string): Promise<{ provider: string; scope: SecretScope } | null> {
  const { providers } = await listProviderSecrets();
  if (!providers.length) {
    Notification.info('The routing file has no remote provider that takes an API key.');
    return null;
  }
  const chosen = await InputDialog.getItem({ title, items: providers.map(describeSecretState) });
  if (!chosen.button.accept || !chosen.value) {
    return null;
  }
  const scope = await InputDialog.getItem({ title: 'Whose key', items: Object.keys(SCOPES) });
  if (!scope.button.accept || !scope.value) {
    return null;
  }
  return { provider: providerOfLabel(chosen.value), scope: SCOPES[scope.value] };
}

function report(err: unknown): void {
  Notification.error(err instanceof NexusAPIError ? err.message : `NEXUS: ${(err as Error).message}`);
}

export function addSecretCommands(app: JupyterFrontEnd, palette: ICommandPalette | null): void {
  app.commands.addCommand(SecretCommandIDs.setKey, {
    label: 'NEXUS: Set provider API key',
    execute: async () => {
      try {
        const target = await pick('Set an API key for');
        if (!target) {
          return;
        }
        const key = await InputDialog.getPassword({ title: `API key for ${target.provider}` });
        if (!key.button.accept || !key.value) {
          return;
        }
        await setProviderSecret(target.provider, key.value.trim(), target.scope);
        Notification.success(`The ${target.provider} key is stored (encrypted); NEXUS will not show it again.`);
      } catch (err) {
        report(err);
      }
    }
  });
  app.commands.addCommand(SecretCommandIDs.removeKey, {
    label: 'NEXUS: Remove provider API key',
    execute: async () => {
      try {
        const target = await pick('Remove the API key of');
        if (target) {
          await deleteProviderSecret(target.provider, target.scope);
          Notification.success(`The ${target.provider} key is removed.`);
        }
      } catch (err) {
        report(err);
      }
    }
  });
  palette?.addItem({ command: SecretCommandIDs.setKey, category: 'NEXUS' });
  palette?.addItem({ command: SecretCommandIDs.removeKey, category: 'NEXUS' });
}
