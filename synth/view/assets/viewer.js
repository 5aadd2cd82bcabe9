/* The index: loads the per-record index chunks (plain script files, so it works from file:// where fetch() is
   blocked), filters them in memory and shows one page of rows at a time. Rows are arrays:
   [kind, id, href, title, specialty, correct, termination, complexity, status, reason]. */
(function () {
  "use strict";
  var PAGE = 50;
  var rows = [];
  var loaded = 0;
  var matches = [];
  var page = 0;
  var VIEW = (window.VIEW = window.VIEW || {});

  VIEW.addChunk = function (k, chunk) {
    for (var i = 0; i < chunk.length; i++) rows.push(chunk[i]);
    loaded++;
  };

  function $(id) { return document.getElementById(id); }

  function filters() {
    var f = [];
    var sel = document.querySelectorAll("#filters select");
    for (var i = 0; i < sel.length; i++) {
      if (sel[i].value !== "") f.push([+sel[i].getAttribute("data-col"), sel[i].value]);
    }
    return f;
  }

  function apply() {
    var f = filters();
    var q = $("f-q").value.trim().toLowerCase();
    matches = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], ok = true;
      for (var j = 0; j < f.length; j++) {
        if (r[f[j][0]] !== f[j][1]) { ok = false; break; }
      }
      if (ok && q && (r[1] + " " + r[3] + " " + (r[9] || "")).toLowerCase().indexOf(q) < 0) ok = false;
      if (ok) matches.push(i);
    }
    var pages = Math.max(1, Math.ceil(matches.length / PAGE));
    if (page >= pages) page = pages - 1;
    render();
    saveHash();
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function render() {
    var body = document.querySelector("#rows tbody");
    body.textContent = "";
    var start = page * PAGE;
    for (var i = start; i < Math.min(start + PAGE, matches.length); i++) {
      var r = rows[matches[i]];
      var tr = document.createElement("tr");
      tr.className = "row kind-" + r[0];
      cell(tr, r[0]);
      var td = cell(tr, "");
      if (r[2]) {
        var a = document.createElement("a");
        a.href = r[2];
        a.textContent = r[3] || r[1];
        a.className = "open";
        td.appendChild(a);
      } else {
        td.textContent = r[3] || r[1];
      }
      cell(tr, r[4]); cell(tr, r[5]); cell(tr, r[6]); cell(tr, r[7]); cell(tr, r[8]); cell(tr, r[9], "reason");
      body.appendChild(tr);
    }
    var pages = Math.max(1, Math.ceil(matches.length / PAGE));
    $("page").textContent = "page " + (page + 1) + " of " + pages;
    $("summary").textContent = matches.length + " of " + rows.length + " rows match" +
      (loaded < VIEW.meta.chunks ? " (loading index " + loaded + "/" + VIEW.meta.chunks + ")" : "");
    $("summary").setAttribute("data-ready", loaded >= VIEW.meta.chunks ? "1" : "0");
  }

  function saveHash() {
    var parts = [];
    var sel = document.querySelectorAll("#filters select");
    for (var i = 0; i < sel.length; i++) if (sel[i].value) parts.push(sel[i].id + "=" + encodeURIComponent(sel[i].value));
    if ($("f-q").value) parts.push("f-q=" + encodeURIComponent($("f-q").value));
    if (page) parts.push("page=" + page);
    history.replaceState(null, "", "#" + parts.join("&"));
  }

  function loadHash() {
    var h = location.hash.replace(/^#/, "");
    if (!h) return;
    h.split("&").forEach(function (kv) {
      var p = kv.split("="), v = decodeURIComponent(p[1] || "");
      if (p[0] === "page") page = +v || 0;
      else if ($(p[0])) $(p[0]).value = v;
    });
  }

  function loadChunk(k) {
    if (k >= VIEW.meta.chunks) { apply(); return; }
    var s = document.createElement("script");
    s.src = "index/chunk-" + ("0000" + k).slice(-5) + ".js";
    s.onload = function () { if (k % 5 === 4) apply(); loadChunk(k + 1); };
    s.onerror = function () { $("summary").textContent = "index chunk " + k + " is missing"; };
    document.body.appendChild(s);
  }

  VIEW.start = function () {
    loadHash();
    var sel = document.querySelectorAll("#filters select");
    for (var i = 0; i < sel.length; i++) sel[i].addEventListener("change", function () { page = 0; apply(); });
    $("f-q").addEventListener("input", function () { page = 0; apply(); });
    $("f-reset").addEventListener("click", function () {
      for (var i = 0; i < sel.length; i++) sel[i].value = "";
      $("f-q").value = ""; page = 0; apply();
    });
    $("prev").addEventListener("click", function () { if (page > 0) { page--; render(); saveHash(); } });
    $("next").addEventListener("click", function () {
      if ((page + 1) * PAGE < matches.length) { page++; render(); saveHash(); }
    });
    loadChunk(0);
  };
})();
