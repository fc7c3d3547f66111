// The workflow playground: check the TOML as it is typed, redraw the DAG, run a scenario on the simulator and
// colour the DAG move by move. No framework, no build, nothing fetched from elsewhere.
(function () {
  "use strict";
  var root, source, scenario, problems, dag, timeline, outcome, pending = null, asked = 0;

  function post(path, body) {
    return fetch("/dashboard/playground/" + path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok) throw new Error("the server answered " + response.status);
      return response.json();
    });
  }

  function edited() {
    return { source: source.value, scenario: scenario.value, name: root.dataset.name };
  }

  function showProblems(list) {
    problems.replaceChildren();
    (list.length ? list : ["none"]).forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      item.className = text === "none" ? "muted" : (text.indexOf(": warning: ") >= 0 ? "warning" : "problem");
      problems.appendChild(item);
    });
  }

  function showDag(svg) {
    if (!svg) return;
    dag.innerHTML = svg;  // the server's own SVG, every value in it escaped by its template
  }

  function check() {
    var mine = ++asked;
    post("check", edited()).then(function (answer) {
      if (mine !== asked) return;  // a later edit's answer wins
      showProblems(answer.problems);
      showDag(answer.dag);
      dag.dataset.state = answer.dag ? "ready" : "invalid";
    }).catch(function (error) { showProblems(["could not check: " + error.message]); });
  }

  function later() {
    if (pending) window.clearTimeout(pending);
    pending = window.setTimeout(check, 300);
    refreshDownloads();
  }

  function colour(step, status) {
    var node = dag.querySelector('g.step[data-step="' + CSS.escape(step) + '"]');
    if (!node) return;
    node.setAttribute("class", "step s-" + status);
    node.dataset.status = status;
  }

  function run() {
    dag.dataset.state = "running";
    timeline.replaceChildren();
    outcome.textContent = "";
    post("simulate", edited()).then(function (answer) {
      showProblems(answer.problems);
      if (!answer.dag || !answer.status) { dag.dataset.state = "invalid"; return; }
      showDag(answer.dag);
      dag.querySelectorAll("g.step").forEach(function (node) { node.setAttribute("class", "step s-waiting"); });
      var index = 0;
      (function next() {
        if (index >= answer.timeline.length) {
          Object.keys(answer.statuses).forEach(function (step) { colour(step, answer.statuses[step]); });
          outcome.textContent = "run " + answer.status;
          dag.dataset.state = "done";
          dag.dataset.status = answer.status;
          return;
        }
        var move = answer.timeline[index++];
        var line = document.createElement("li");
        line.textContent = move.at + "  " + (move.step || "") + (move.attempt ? " #" + move.attempt : "") + "  " +
          move.what + "  " + move.text;
        timeline.appendChild(line);
        if (move.step && move.status) colour(move.step, move.status);
        window.setTimeout(next, 120);
      })();
    }).catch(function (error) {
      showProblems(["could not run: " + error.message]);
      dag.dataset.state = "invalid";
    });
  }

  function refreshDownloads() {
    [["download-workflow", source], ["download-scenario", scenario]].forEach(function (pair) {
      var link = document.getElementById(pair[0]);
      if (link.href.indexOf("blob:") === 0) URL.revokeObjectURL(link.href);
      link.href = URL.createObjectURL(new Blob([pair[1].value], { type: "application/toml" }));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    root = document.getElementById("playground");
    if (!root) return;
    source = document.getElementById("source");
    scenario = document.getElementById("scenario");
    problems = document.getElementById("problems");
    dag = document.getElementById("dag");
    timeline = document.getElementById("timeline");
    outcome = document.getElementById("outcome");
    source.addEventListener("input", later);
    scenario.addEventListener("input", refreshDownloads);
    document.getElementById("run").addEventListener("click", run);
    refreshDownloads();
    check();
  });
})();
