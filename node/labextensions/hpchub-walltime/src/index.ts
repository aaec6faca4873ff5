// hpchub-walltime: where this server runs and how long its Slurm job has left, asked of the
// server's hpchub/walltime handler (hpchub.node.walltime).
// - "hpchub-walltime:plugin" warns before the job's time limit (times from the settings);
// - "hpchub-walltime:status" keeps a status-bar item (node, job, time left) whose click opens
//   the details.

import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

const WARN_ID = 'hpchub-walltime:plugin';
const STATUS_ID = 'hpchub-walltime:status';
const POLL_MS = 15_000;
const REFRESH_MS = 60_000;

/** What hpchub/walltime answers. */
interface IWalltime {
  nodes: string;
  job_id: string | number;
  remaining_s?: number | null;
  shared?: boolean;
  cpus?: number;
  memory_mb?: number;
  partition?: string;
  account?: string;
  qos?: string;
}

/** One warning of the `warnings` setting. */
interface IWarning {
  before_s: number;
  type: Notification.TypeOptions;
}

const DEFAULT_WARNINGS: IWarning[] = [
  { before_s: 600, type: 'warning' },
  { before_s: 120, type: 'error' }
];

/** The warnings, most urgent first; the defaults when the setting holds none. */
function ordered(warnings: IWarning[] | undefined): IWarning[] {
  const usable = (warnings ?? []).filter(
    w => w && typeof w.before_s === 'number' && w.before_s > 0 && w.type
  );
  return (usable.length ? usable : DEFAULT_WARNINGS)
    .slice()
    .sort((a, b) => a.before_s - b.before_s);
}

function walltimeUrl(settings: ServerConnection.ISettings): string {
  return URLExt.join(settings.baseUrl, 'hpchub/walltime');
}

/** The server's answer, or null when it has none (not an hpchub server, an error). */
async function ask(settings: ServerConnection.ISettings): Promise<IWalltime | null> {
  const resp = await ServerConnection.makeRequest(walltimeUrl(settings), {}, settings);
  return resp.ok ? ((await resp.json()) as IWalltime) : null;
}

function hasLimit(reply: IWalltime): reply is IWalltime & { remaining_s: number } {
  return reply.remaining_s !== null && reply.remaining_s !== undefined;
}

function clock(secondsFromNow: number): string {
  const at = new Date(Date.now() + secondsFromNow * 1000);
  return at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
}

// JupyterLab cuts toasts at 140 characters: the message says it all before that.
function message(reply: IWalltime & { remaining_s: number }): string {
  const minutes = Math.max(1, Math.round(reply.remaining_s / 60));
  return (
    `Your server (Slurm job ${reply.job_id}) stops in ${minutes} minute` +
    `${minutes === 1 ? '' : 's'}, at ${clock(reply.remaining_s)}: its time limit. ` +
    'Save your work now (File > Save All).'
  );
}

const warnPlugin: JupyterFrontEndPlugin<void> = {
  id: WARN_ID,
  description: "Warns before the server's Slurm job reaches its time limit.",
  autoStart: true,
  optional: [ISettingRegistry],
  activate: (app: JupyterFrontEnd, registry: ISettingRegistry | null) => {
    const server = app.serviceManager.serverSettings;
    let warnings = ordered(undefined);
    const shown = new Set<number>(); // before_s of the warnings shown (or past)
    let timer: number | undefined;

    const loaded = registry
      ? registry
          .load(WARN_ID)
          .then(settings => {
            const read = () => {
              warnings = ordered(settings.composite.warnings as unknown as IWarning[]);
            };
            read();
            settings.changed.connect(read);
          })
          .catch(err => console.warn('hpchub-walltime: default warnings:', err))
      : Promise.resolve();

    const check = async () => {
      let reply: IWalltime | null;
      try {
        reply = await ask(server);
      } catch {
        return; // the server is busy or stopping: try again later
      }
      if (!reply) {
        return;
      }
      if (!hasLimit(reply)) {
        window.clearInterval(timer); // not a batch server: nothing to warn about
        return;
      }
      const index = warnings.findIndex(w => reply!.remaining_s <= w.before_s);
      if (index < 0 || shown.has(warnings[index].before_s)) {
        return;
      }
      // The most urgent warning only: the milder ones are past. If JupyterLab cannot take
      // it yet, it is tried again at the next poll.
      try {
        Notification.emit(message(reply), warnings[index].type, { autoClose: false });
        warnings.slice(index).forEach(w => shown.add(w.before_s));
      } catch (err) {
        console.warn('hpchub-walltime: cannot notify yet', err);
      }
    };

    timer = window.setInterval(() => void check(), POLL_MS);
    void Promise.all([app.restored, loaded]).then(check);
  }
};

function duration(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number) => (n < 10 ? '0' : '') + n;
  return (h ? `${h}:${pad(m)}` : `${m}`) + `:${pad(sec)}`;
}

function memory(mb: number): string {
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${mb} MB`;
}

function cpus(n: number | undefined): string {
  return `${n} CPU${n === 1 ? '' : 's'}`;
}

function summary(info: IWalltime, left: number | null): string {
  if (info.shared) {
    return (
      `${info.nodes} (shared) \u00b7 ${cpus(info.cpus)}` +
      (info.memory_mb ? ` \u00b7 ${memory(info.memory_mb)}` : '')
    );
  }
  return (
    `${info.nodes} \u00b7 job ${info.job_id}` +
    (left === null ? '' : ` \u00b7 ${duration(left)} left`)
  );
}

function details(info: IWalltime, left: number | null): [string, string][] {
  const rows: [string, string][] = [
    ['Node' + (/[\[,]/.test(info.nodes) ? 's' : ''), info.nodes]
  ];
  if (info.shared) {
    rows.push(
      ['Kind', 'shared node: no queue, no time limit'],
      [
        'Your share',
        cpus(info.cpus) +
          (info.memory_mb
            ? `, ${memory(info.memory_mb)} of memory for all your processes`
            : '')
      ]
    );
  } else {
    rows.push(
      ['Slurm job', String(info.job_id)],
      ['Partition', info.partition || '?'],
      ['Account', info.account || '?'],
      ['QOS', info.qos || '?']
    );
    if (left !== null) {
      rows.push(['Stops at', `${clock(left)} (its time limit), in ${duration(left)}`]);
    }
  }
  rows.push([
    'To stop it',
    'File > Hub Control Panel, then Stop. Save first (File > Save All): ' +
      'what is not saved when the server stops is lost.'
  ]);
  return rows;
}

const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: STATUS_ID,
  description: 'Shows in the status bar where this server runs and how long it has left.',
  autoStart: true,
  optional: [IStatusBar],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar | null) => {
    if (!statusBar) {
      return; // no status bar in this JupyterLab (disabled): nothing to show
    }
    const server = app.serviceManager.serverSettings;
    let info: IWalltime | null = null;
    let stopsAt: number | null = null;

    const item = new Widget();
    item.addClass('jp-StatusBar-TextItem');
    item.addClass('hpchub-status');
    item.node.setAttribute('role', 'button');
    item.node.setAttribute('tabindex', '0');
    item.node.title = 'Where this server runs; click for details';
    // Shown once the server has answered: a server without hpchub has no item.
    const activeChanged = new Signal<Widget, void>(item);

    const left = () =>
      stopsAt === null ? null : Math.max(0, Math.round((stopsAt - Date.now()) / 1000));
    const render = () => {
      if (info) {
        item.node.textContent = summary(info, left());
      }
    };
    const open = () => {
      if (!info) {
        return;
      }
      const table = document.createElement('dl');
      table.className = 'hpchub-status-details';
      for (const [name, value] of details(info, left())) {
        const dt = document.createElement('dt');
        const dd = document.createElement('dd');
        dt.textContent = name;
        dd.textContent = value;
        table.append(dt, dd);
      }
      const body = new Widget({ node: document.createElement('div') });
      body.node.appendChild(table);
      void showDialog({ title: 'Your server', body, buttons: [Dialog.okButton()] });
    };
    item.node.addEventListener('click', open);
    item.node.addEventListener('keydown', (e: KeyboardEvent) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        open();
      }
    });

    const refresh = async () => {
      try {
        const reply = await ask(server);
        if (!reply) {
          return;
        }
        const first = info === null;
        info = reply;
        stopsAt = hasLimit(reply) ? Date.now() + reply.remaining_s * 1000 : null;
        render();
        if (first) {
          activeChanged.emit();
        }
      } catch {
        // try again at the next refresh
      }
    };

    statusBar.registerStatusItem(STATUS_ID, {
      item,
      align: 'left',
      rank: 1000,
      isActive: () => info !== null,
      activeStateChanged: activeChanged
    });
    void refresh();
    window.setInterval(() => void refresh(), REFRESH_MS);
    window.setInterval(render, 1000);
  }
};

export default [warnPlugin, statusPlugin];
