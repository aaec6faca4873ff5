// hpchub-notebooks: one JupyterLab 4 plug-in written by hand as a module-federation container
// (no build step, like hpchub-walltime). Its command "Get a writable copy of the notebook
// collections" asks for a folder and has the server (hpchub.notebooks.lab) run getlatest into it.
(function () {
  "use strict";
  var shared = null;  // webpack's share scope, from container.init
  var COMMAND = "hpchub:getlatest";

  function load(name) {
    var versions = (shared && shared[name]) || {};
    var keys = Object.keys(versions);
    var key = keys.filter(function (k) { return versions[k].from === "@jupyterlab/application-top"; })[0] ||
      keys.filter(function (k) { return versions[k].loaded; })[0] || keys[0];
    if (!key) { return Promise.reject(new Error("JupyterLab shares no " + name)); }
    return Promise.resolve(versions[key].get()).then(function (factory) { return factory(); });
  }

  function headers(config) {  // what JupyterHub asks of cookie-authenticated API requests
    var h = { "Content-Type": "application/json" };
    var match = document.cookie.match("\\b_xsrf=([^;]*)\\b");
    if (match) { h["X-XSRFToken"] = decodeURIComponent(match[1]); }
    if (config.token) { h["Authorization"] = "token " + config.token; }
    return h;
  }

  function say(modules, title, text) {
    var apputils = modules.apputils;
    var body = document.createElement("pre");
    body.className = "hpchub-getlatest-result";
    body.style.cssText = "white-space:pre-wrap;margin:0";
    body.textContent = text;
    var widget = new modules.widgets.Widget({ node: body });
    return apputils.showDialog({ title: title, body: widget, buttons: [apputils.Dialog.okButton()] });
  }

  function plugin(modules) {
    var apputils = modules.apputils;
    return {
      id: "hpchub-notebooks:getlatest",
      description: "Copies the notebook collections into a writable folder (getlatest).",
      autoStart: true,
      requires: [apputils.ICommandPalette],
      activate: function (app, palette) {
        var config = JSON.parse(document.getElementById("jupyter-config-data").textContent);
        app.commands.addCommand(COMMAND, {
          label: "Get a writable copy of the notebook collections",
          caption: "Copy ~/notebooks-latest into a folder you can edit; your changed notebooks are kept",
          execute: function () {
            return apputils.InputDialog.getText({
              title: "Copy the notebook collections into which folder?", text: "notebooks",
              label: "Folder in your home (each collection goes into FOLDER/<collection>)"
            }).then(function (answer) {
              if (!answer.button.accept || !answer.value) { return; }
              return fetch(config.baseUrl + "hpchub/getlatest", {
                method: "POST", credentials: "same-origin", headers: headers(config),
                body: JSON.stringify({ directory: answer.value })
              }).then(function (resp) {
                return resp.json().then(function (reply) {
                  if (!resp.ok) { return say(modules, "Nothing copied", reply.message || ("HTTP " + resp.status)); }
                  return say(modules, "Copied into " + answer.value, reply.reports.join("\n"));
                });
              }, function (err) { return say(modules, "Nothing copied", "The server did not answer: " + err); });
            });
          }
        });
        palette.addItem({ command: COMMAND, category: "Notebook collections" });
      }
    };
  }

  var container = {
    init: function (shareScope) { shared = shareScope; return Promise.resolve(); },
    get: function (module) {
      if (module !== "./extension") {
        return Promise.reject(new Error("hpchub-notebooks has no module " + module));
      }
      return Promise.all([load("@jupyterlab/apputils"), load("@lumino/widgets")]).then(function (m) {
        var plugins = [plugin({ apputils: m[0], widgets: m[1] })];
        return function () { return { __esModule: true, "default": plugins }; };
      });
    }
  };
  var scope = (typeof window._JUPYTERLAB === "undefined") ? (window._JUPYTERLAB = {}) : window._JUPYTERLAB;
  scope["hpchub-notebooks"] = container;
})();
