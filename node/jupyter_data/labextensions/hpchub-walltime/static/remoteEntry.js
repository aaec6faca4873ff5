// hpchub-walltime: two JupyterLab 4 plug-ins written by hand as a module-federation container
// (no build step). Both ask the server (hpchub.node.walltime) where it runs and how long its
// Slurm job has left. "plugin" shows a notification 10 minutes and 2 minutes before the server
// is asked to stop (it needs only the `apputils:notify` command). "status" keeps a status-bar
// item (node, job, time left, counting down) whose click opens the details; it takes
// @jupyterlab/statusbar, @jupyterlab/apputils and @lumino/widgets from the share scope
// JupyterLab gives the container, so that its IStatusBar token is JupyterLab's own.
(function () {
  "use strict";
  var shared = null;  // webpack's share scope, from container.init
  var WARNINGS = [
    { before: 120, type: "error" },
    { before: 600, type: "warning" }
  ];
  var POLL_MS = 15000;

  function clock(secondsFromNow) {
    var at = new Date(Date.now() + secondsFromNow * 1000);
    return at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  }

  // JupyterLab cuts toasts at 140 characters: say it all before that.
  function message(reply) {
    var minutes = Math.max(1, Math.round(reply.remaining_s / 60));
    return "Your server (Slurm job " + reply.job_id + ") stops in " + minutes + " minute" +
      (minutes === 1 ? "" : "s") + ", at " + clock(reply.remaining_s) +
      ": its time limit. Save your work now (File > Save All).";
  }

  // What JupyterLab's own ServerConnection sends: JupyterHub requires the XSRF token on
  // cookie-authenticated API requests, GET included.
  function headers(config) {
    var h = {};
    var match = document.cookie.match("\\b_xsrf=([^;]*)\\b");
    if (match) { h["X-XSRFToken"] = decodeURIComponent(match[1]); }
    if (config.token) { h["Authorization"] = "token " + config.token; }
    return h;
  }

  var plugin = {
    id: "hpchub-walltime:plugin",
    description: "Warns before the server's Slurm job reaches its time limit.",
    autoStart: true,
    activate: function (app) {
      var config = JSON.parse(document.getElementById("jupyter-config-data").textContent);
      var url = config.baseUrl + "hpchub/walltime";
      var shown = {};
      var timer = null;
      function check() {
        fetch(url, { credentials: "same-origin", headers: headers(config) })
          .then(function (resp) { return resp.ok ? resp.json() : null; })
          .then(function (reply) {
            if (!reply) { return; }
            if (reply.remaining_s === null || reply.remaining_s === undefined) {
              clearInterval(timer);  // not a batch server: nothing to warn about
              return;
            }
            for (var i = 0; i < WARNINGS.length; i++) {
              var w = WARNINGS[i];
              if (reply.remaining_s <= w.before) {
                if (!shown[w.before]) {
                  // Show the most urgent warning only; the milder ones are past. Retried on the
                  // next poll if JupyterLab could not take it (not started up yet).
                  shown[w.before] = true;
                  app.commands.execute("apputils:notify", {
                    message: message(reply), type: w.type, options: { autoClose: false }
                  }).then(function () {
                    for (var j = i; j < WARNINGS.length; j++) { shown[WARNINGS[j].before] = true; }
                  }, function (err) {
                    shown[w.before] = false;
                    console.warn("hpchub-walltime: cannot notify yet", err);
                  });
                }
                break;
              }
            }
          })
          .catch(function () { /* the server is busy or stopping: try again later */ });
      }
      timer = setInterval(check, POLL_MS);
      app.restored.then(check);
    }
  };

  // A module JupyterLab shares: its own copy (the application's), else one already loaded.
  function load(name) {
    var versions = (shared && shared[name]) || {};
    var keys = Object.keys(versions);
    var key = keys.filter(function (k) { return versions[k].from === "@jupyterlab/application-top"; })[0] ||
      keys.filter(function (k) { return versions[k].loaded; })[0] || keys[0];
    if (!key) { return Promise.reject(new Error("JupyterLab shares no " + name)); }
    return Promise.resolve(versions[key].get()).then(function (factory) { return factory(); });
  }

  function duration(s) {
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (sec < 10 ? "0" : "") + sec;
  }

  function memory(mb) { return mb >= 1024 ? (mb / 1024).toFixed(1) + " GB" : mb + " MB"; }

  function summary(info, left) {
    if (info.shared) {
      return info.nodes + " (shared) \u00b7 " + info.cpus + " CPU" + (info.cpus === 1 ? "" : "s") +
        (info.memory_mb ? " \u00b7 " + memory(info.memory_mb) : "");
    }
    return info.nodes + " \u00b7 job " + info.job_id +
      (left === null ? "" : " \u00b7 " + duration(left) + " left");
  }

  function details(info, left) {
    var rows = [["Node" + (/[\[,]/.test(info.nodes) ? "s" : ""), info.nodes]];
    if (info.shared) {
      rows.push(["Kind", "shared node: no queue, no time limit"],
                ["Your share", info.cpus + " CPU" + (info.cpus === 1 ? "" : "s") +
                 (info.memory_mb ? ", " + memory(info.memory_mb) + " of memory for all your processes" : "")]);
    } else {
      rows.push(["Slurm job", info.job_id], ["Partition", info.partition || "?"],
                ["Account", info.account || "?"], ["QOS", info.qos || "?"]);
      if (left !== null) {
        rows.push(["Stops at", clock(left) + " (its time limit), in " + duration(left)]);
      }
    }
    rows.push(["To stop it", "File > Hub Control Panel, then Stop. Save first (File > Save All): " +
               "what is not saved when the server stops is lost."]);
    return rows;
  }

  function statusPlugin(modules) {
    var Widget = modules.widgets.Widget, apputils = modules.apputils;
    return {
      id: "hpchub-walltime:status",
      description: "Shows in the status bar where this server runs and how long it has left.",
      autoStart: true,
      requires: [modules.statusbar.IStatusBar],
      activate: function (app, statusBar) {
        var config = JSON.parse(document.getElementById("jupyter-config-data").textContent);
        var info = null, stopsAt = null;
        var item = new Widget();
        item.addClass("jp-StatusBar-TextItem");
        item.addClass("hpchub-status");
        item.node.setAttribute("role", "button");
        item.node.setAttribute("tabindex", "0");
        item.node.title = "Where this server runs; click for details";
        function left() { return stopsAt === null ? null : Math.max(0, Math.round((stopsAt - Date.now()) / 1000)); }
        function render() { if (info) { item.node.textContent = summary(info, left()); } }
        function open() {
          if (!info) { return; }
          var body = new Widget();
          var table = document.createElement("dl");
          table.className = "hpchub-status-details";
          table.style.cssText = "display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:0";
          details(info, left()).forEach(function (row) {
            var dt = document.createElement("dt"), dd = document.createElement("dd");
            dt.style.fontWeight = "bold";
            dd.style.margin = "0";
            dt.textContent = row[0];
            dd.textContent = row[1];
            table.appendChild(dt);
            table.appendChild(dd);
          });
          body.node.appendChild(table);
          apputils.showDialog({ title: "Your server", body: body, buttons: [apputils.Dialog.okButton()] });
        }
        item.node.addEventListener("click", open);
        item.node.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); }
        });
        function refresh() {
          fetch(config.baseUrl + "hpchub/walltime", { credentials: "same-origin", headers: headers(config) })
            .then(function (resp) { return resp.ok ? resp.json() : null; })
            .then(function (reply) {
              if (!reply) { return; }
              info = reply;
              stopsAt = reply.remaining_s === null || reply.remaining_s === undefined ? null
                : Date.now() + reply.remaining_s * 1000;
              render();
            })
            .catch(function () { /* try again at the next refresh */ });
        }
        statusBar.registerStatusItem("hpchub-walltime:status", { item: item, align: "left", rank: 1000 });
        refresh();
        setInterval(refresh, 60000);
        setInterval(render, 1000);
      }
    };
  }

  var container = {
    init: function (shareScope) { shared = shareScope; return Promise.resolve(); },
    get: function (module) {
      if (module !== "./extension") {
        return Promise.reject(new Error("hpchub-walltime has no module " + module));
      }
      return Promise.all([load("@jupyterlab/statusbar"), load("@jupyterlab/apputils"), load("@lumino/widgets")])
        .then(function (m) {
          return [plugin, statusPlugin({ statusbar: m[0], apputils: m[1], widgets: m[2] })];
        }, function (err) {
          console.warn("hpchub-walltime: no status-bar item:", err);
          return [plugin];
        })
        .then(function (plugins) {
          return function () { return { __esModule: true, "default": plugins }; };
        });
    }
  };
  var scope = (typeof window._JUPYTERLAB === "undefined") ? (window._JUPYTERLAB = {}) : window._JUPYTERLAB;
  scope["hpchub-walltime"] = container;
})();
