// hpchub-walltime: a JupyterLab 4 plug-in written by hand as a module-federation container
// (no build step): it needs no shared module, only the `apputils:notify` command JupyterLab
// registers. It asks the server (hpchub.spawners.walltime) how long the Slurm job has left and
// shows a notification 10 minutes and 2 minutes before the server is asked to stop.
(function () {
  "use strict";
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

  var container = {
    init: function () { return Promise.resolve(); },
    get: function (module) {
      if (module !== "./extension") {
        return Promise.reject(new Error("hpchub-walltime has no module " + module));
      }
      return Promise.resolve(function () { return { __esModule: true, "default": plugin }; });
    }
  };
  var scope = (typeof window._JUPYTERLAB === "undefined") ? (window._JUPYTERLAB = {}) : window._JUPYTERLAB;
  scope["hpchub-walltime"] = container;
})();
