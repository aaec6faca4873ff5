// hpchub-notebooks: the command "Get a writable copy of the notebook collections" asks for a
// folder and has the server's hpchub/getlatest handler (hpchub.notebooks.lab) run getlatest
// into it, then shows what getlatest reported.

import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, ICommandPalette, InputDialog, showDialog } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

const COMMAND = 'hpchub:getlatest';

/** What hpchub/getlatest answers: its reports, or why it copied nothing. */
interface IReply {
  reports?: string[];
  message?: string;
}

function say(title: string, text: string): Promise<unknown> {
  const pre = document.createElement('pre');
  pre.className = 'hpchub-getlatest-result';
  pre.textContent = text;
  return showDialog({ title, body: new Widget({ node: pre }), buttons: [Dialog.okButton()] });
}

async function getlatest(
  settings: ServerConnection.ISettings,
  directory: string
): Promise<unknown> {
  let resp: Response;
  try {
    resp = await ServerConnection.makeRequest(
      URLExt.join(settings.baseUrl, 'hpchub/getlatest'),
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ directory })
      },
      settings
    );
  } catch (err) {
    return say('Nothing copied', `The server did not answer: ${err}`);
  }
  let reply: IReply = {};
  try {
    reply = (await resp.json()) as IReply;
  } catch {
    // not JSON (a proxy's error page): the status says enough
  }
  if (!resp.ok) {
    return say('Nothing copied', reply.message || `HTTP ${resp.status}`);
  }
  return say(`Copied into ${directory}`, (reply.reports ?? []).join('\n'));
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'hpchub-notebooks:getlatest',
  description: 'Copies the notebook collections into a writable folder (getlatest).',
  autoStart: true,
  requires: [ICommandPalette],
  activate: (app: JupyterFrontEnd, palette: ICommandPalette) => {
    const settings = app.serviceManager.serverSettings;
    app.commands.addCommand(COMMAND, {
      label: 'Get a writable copy of the notebook collections',
      caption:
        'Copy ~/notebooks-latest into a folder you can edit; your changed notebooks are kept',
      execute: async () => {
        const answer = await InputDialog.getText({
          title: 'Copy the notebook collections into which folder?',
          text: 'notebooks',
          label: 'Folder in your home (each collection goes into FOLDER/<collection>)'
        });
        if (!answer.button.accept || !answer.value) {
          return;
        }
        return getlatest(settings, answer.value);
      }
    });
    palette.addItem({ command: COMMAND, category: 'Notebook collections' });
  }
};

export default plugin;
