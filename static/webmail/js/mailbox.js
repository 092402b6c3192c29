// Mailbox page: selection, keyboard, reading pane, drag to folder, live updates.
// Everything here enhances plain links and forms that work without it.
(function () {
  "use strict";
  var panes = document.getElementById("panes");
  if (!panes) return;
  var reader = document.getElementById("reader");
  var listPane = document.getElementById("list-pane");
  var csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value;
  var cursor = -1;
  var anchor = -1;
  var readTimer = null;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#rows .row")); }
  function checkbox(row) { return row.querySelector("input[type=checkbox]"); }
  function selectedIds() {
    return rows().filter(function (r) { return checkbox(r).checked; })
      .map(function (r) { return r.dataset.id; });
  }
  function setChecked(row, on) {
    checkbox(row).checked = on;
    row.setAttribute("aria-selected", on ? "true" : "false");
  }
  function focusRow(index) {
    var all = rows();
    if (!all.length) return;
    cursor = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (r, i) { r.classList.toggle("cursor", i === cursor); });
    all[cursor].focus();
  }

  // --- the reading pane -------------------------------------------------------------
  function openMessage(row, push) {
    var link = row.querySelector("a.open");
    fetch(link.href + "?partial=reader", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        reader.innerHTML = html;
        document.body.classList.add("reading");
        row.classList.remove("unread");
        if (push !== false) history.pushState({ message: row.dataset.id }, "", link.href);
        scheduleMarkRead();
        wireReader();
      })
      .catch(function () { window.location = link.href; });
  }
  function backToList() {
    document.body.classList.remove("reading");
    reader.innerHTML = "";
    history.pushState({}, "", panes.dataset.viewUrl);
    focusRow(cursor);
  }
  function scheduleMarkRead() {
    clearTimeout(readTimer);
    var view = document.getElementById("message-view");
    var delay = Number(panes.dataset.markReadAfter);
    if (!view || view.dataset.seen === "1" || view.dataset.downloading === "1" || delay <= 0) return;
    readTimer = setTimeout(function () { act("read", [view.dataset.id], { auto: "1" }); }, delay * 1000);
  }
  function wireReader() {
    var back = document.getElementById("back-to-list");
    if (back) back.addEventListener("click", function (e) { e.preventDefault(); backToList(); });
    var print = document.getElementById("print-message");
    if (print) print.addEventListener("click", function () {
      var frame = document.getElementById("body-frame");
      window.print();
      return frame;
    });
  }

  // --- actions ------------------------------------------------------------------------
  function act(action, ids, extra) {
    if (!ids.length) return Promise.resolve();
    var body = new URLSearchParams();
    body.append("action", action);
    ids.forEach(function (id) { body.append("ids", id); });
    Object.keys(extra || {}).forEach(function (k) { body.append(k, extra[k]); });
    // Show the change at once; the event stream brings the server's answer.
    ids.forEach(function (id) {
      var row = document.querySelector('#rows .row[data-id="' + id + '"]');
      if (!row) return;
      if (action === "read") row.classList.remove("unread");
      if (action === "unread") row.classList.add("unread");
      if (action === "flag") row.classList.add("flagged");
      if (action === "unflag") row.classList.remove("flagged");
      if (["delete", "archive", "spam", "move"].indexOf(action) >= 0) row.classList.add("leaving");
    });
    return fetch("/mail/act/", {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" }
    }).then(function (r) { return r.json(); }).then(function (data) {
      if (!data.ok) window.alert(data.error);
      else if (!(extra && extra.auto)) showToast(data.message, data.undo);
    });
  }

  // --- undo: a toast after each action; its button (or z) takes the last one back -----
  var toast = document.getElementById("toast");
  var undoButton = document.getElementById("undo-button");
  var undoToken = null;  // the last action's, offered by the toast
  var undoing = null;  // the one being undone
  var toastTimer = null;
  function showToast(text, token) {
    if (!toast) return;
    clearTimeout(toastTimer);
    document.getElementById("toast-text").textContent = text || "";
    undoToken = token || null;
    undoButton.hidden = !undoToken;
    toast.classList.add("open");
    toastTimer = setTimeout(hideToast, 10000);
  }
  function hideToast() {
    // Not while the user is on its button (keyboard or pointer): they are about to use it.
    if (toast.contains(document.activeElement) || toast.matches(":hover")) {
      toastTimer = setTimeout(hideToast, 2000);
      return;
    }
    toast.classList.remove("open");
    document.getElementById("toast-text").textContent = "";
    undoButton.hidden = true;
  }
  function undo() {
    var flashed = document.querySelector("form.undo-form");
    if (!undoToken && flashed) { flashed.requestSubmit(); return; }
    if (!undoToken) return;
    var body = new URLSearchParams({ action: "undo", token: undoToken });
    undoing = undoToken;
    undoToken = null;
    undoButton.hidden = true;
    fetch("/mail/act/", {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" }
    }).then(function (r) { return r.json(); }).then(function (data) {
      showToast(data.ok ? data.message : data.error, null);
      // Rows shown leaving come back; the event stream then brings the server's list.
      document.querySelectorAll("#rows .row.leaving").forEach(function (r) { r.classList.remove("leaving"); });
    });
  }
  if (undoButton) undoButton.addEventListener("click", undo);
  function currentIds() {
    var ids = selectedIds();
    if (ids.length) return ids;
    var view = document.getElementById("message-view");
    if (view && document.body.classList.contains("reading")) return [view.dataset.id];
    var all = rows();
    return cursor >= 0 && all[cursor] ? [all[cursor].dataset.id] : [];
  }

  // --- search box (part of the list, so re-wired with it) ----------------------------
  // What is typed survives a live refresh of the list, which replaces the box.
  var searchDraft = null;
  var serverPolls = 0;
  function wireSearch() {
    // A search of the message text on the mail server still running: look again soon.
    var list = document.getElementById("message-list");
    if (list && list.dataset.searchPending === "1" && serverPolls < 120) {
      serverPolls += 1;
      setTimeout(refreshList, 1000);
    }
    var input = document.getElementById("search-input");
    if (!input) return;
    if (searchDraft) {
      input.value = searchDraft.value;
      if (searchDraft.focused) input.focus();
    }
    function keep(focused) { searchDraft = { value: input.value, focused: focused }; }
    input.addEventListener("focus", function () { keep(true); });
    input.addEventListener("input", function () { keep(true); });
    input.addEventListener("blur", function () {
      // A refresh removes the focused box: that is not the user leaving it.
      setTimeout(function () {
        if (!input.isConnected) return;
        if (input.value !== input.defaultValue) keep(false); else searchDraft = null;
      }, 0);
    });
    // Escape clears the box; on an empty box it leaves the search (or the box).
    input.addEventListener("keydown", function (e) {
      if (e.key !== "Escape") return;
      e.preventDefault();
      if (input.value) { input.value = ""; keep(true); return; }
      searchDraft = null;
      var clear = document.getElementById("search-clear");
      if (clear) { window.location = clear.href; return; }
      input.blur();
      focusRow(cursor);
    });
  }

  // --- list wiring (re-run after the list is refreshed) -------------------------------
  function wireList() {
    var form = document.getElementById("list-form");
    if (!form) return;
    wireSearch();
    var all = document.getElementById("select-all");
    if (all) all.addEventListener("change", function () {
      rows().forEach(function (r) { setChecked(r, all.checked); });
    });
    rows().forEach(function (row, index) {
      checkbox(row).addEventListener("click", function (e) {
        if (e.shiftKey && anchor >= 0) {
          var lo = Math.min(anchor, index), hi = Math.max(anchor, index);
          rows().slice(lo, hi + 1).forEach(function (r) { setChecked(r, true); });
        } else {
          setChecked(row, checkbox(row).checked);
        }
        anchor = index;
        e.stopPropagation();
      });
      row.querySelector("a.open").addEventListener("click", function (e) {
        if (e.ctrlKey || e.metaKey || e.shiftKey) return;
        e.preventDefault();
        cursor = index;
        focusRow(index);
        openMessage(row);
      });
      row.addEventListener("dragstart", function (e) {
        if (!checkbox(row).checked) { rows().forEach(function (r) { setChecked(r, false); }); setChecked(row, true); }
        e.dataTransfer.setData("text/plain", selectedIds().join(","));
        e.dataTransfer.effectAllowed = "move";
      });
    });
    var sort = document.getElementById("sort");
    if (sort) sort.addEventListener("change", function () {
      var url = new URL(window.location.href);
      url.searchParams.set("sort", sort.value);
      url.searchParams.delete("page");
      window.location = url.toString();
    });
    var filter = document.getElementById("move-filter");
    var dest = document.getElementById("move-dest");
    if (filter && dest) filter.addEventListener("change", function () {
      var option = document.querySelector('#move-targets option[value="' + CSS.escape(filter.value) + '"]');
      if (option) dest.value = option.dataset.folder;
    });
  }

  // Drop selected rows on a folder of the tree to move them there.
  document.querySelectorAll("#folders li[data-folder]").forEach(function (item) {
    item.addEventListener("dragover", function (e) { e.preventDefault(); item.classList.add("drop"); });
    item.addEventListener("dragleave", function () { item.classList.remove("drop"); });
    item.addEventListener("drop", function (e) {
      e.preventDefault();
      item.classList.remove("drop");
      var ids = e.dataTransfer.getData("text/plain").split(",").filter(Boolean);
      act("move", ids, { dest: item.dataset.folder });
    });
  });
  // Collapsible sub-folders.
  document.querySelectorAll("#folders .toggle").forEach(function (button) {
    button.addEventListener("click", function () {
      var item = button.closest("li");
      var open = item.getAttribute("aria-expanded") !== "false";
      item.setAttribute("aria-expanded", open ? "false" : "true");
      var depth = Number(item.dataset.depth);
      var next = item.nextElementSibling;
      while (next && Number(next.dataset.depth) > depth) {
        next.hidden = open;
        next = next.nextElementSibling;
      }
    });
  });

  // --- keyboard -----------------------------------------------------------------------
  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    if (e.target.closest("input, select, textarea, dialog") || e.ctrlKey || e.metaKey || e.altKey) return;
    var all = rows();
    var key = e.key;
    if (pendingG) {
      pendingG = false;
      if (key === "i") { window.location = "/mail/all/inbox/"; }
      return;
    }
    if (key === "j") { focusRow(cursor + 1); if (document.body.classList.contains("reading") && all[cursor]) openMessage(all[cursor]); }
    else if (key === "k") { focusRow(cursor - 1); if (document.body.classList.contains("reading") && all[cursor]) openMessage(all[cursor]); }
    else if ((key === "o" || key === "Enter") && all[cursor]) { openMessage(all[cursor]); }
    else if (key === "u") { backToList(); }
    else if (key === "x" && all[cursor]) { setChecked(all[cursor], !checkbox(all[cursor]).checked); }
    else if (key === "e") { act("archive", currentIds()); }
    else if (key === "#") { act("delete", currentIds()); }
    else if (key === "s") {
      var ids = currentIds();
      var row = ids.length && document.querySelector('#rows .row[data-id="' + ids[0] + '"]');
      act(row && row.classList.contains("flagged") ? "unflag" : "flag", ids);
    }
    else if (key === "I") { act("read", currentIds()); }
    else if (key === "U") { act("unread", currentIds()); }
    else if (key === "z") { undo(); }
    else if (key === "g") { pendingG = true; return; }
    else if (key === "/") { var search = document.getElementById("search-input"); if (search) { search.focus(); search.select(); } }
    else if (key === "?") { var dialog = document.getElementById("shortcuts"); if (dialog) dialog.showModal(); }
    else { return; }
    e.preventDefault();
  });

  window.addEventListener("popstate", function () { window.location.reload(); });

  // --- live updates -------------------------------------------------------------------
  var watched = (panes.dataset.folders || "").split(",").filter(Boolean).map(Number);
  var unified = watched.length === 0;
  var refreshTimer = null;
  function refreshList() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      var url = new URL(window.location.href);
      if (url.pathname.indexOf("/mail/message/") === 0) url = new URL(panes.dataset.viewUrl, window.location.href);
      url.searchParams.set("partial", "list");
      fetch(url.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var checked = selectedIds();
          listPane.innerHTML = html;
          rows().forEach(function (r) { if (checked.indexOf(r.dataset.id) >= 0) setChecked(r, true); });
          wireList();
          if (cursor >= 0) rows().forEach(function (r, i) { r.classList.toggle("cursor", i === cursor); });
        });
    }, 150);
  }
  function updateCount(folderId, unseen) {
    var item = document.querySelector('#folders li[data-folder="' + folderId + '"]');
    if (!item) return;
    var badge = item.querySelector(".count");
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "count";
      item.appendChild(badge);
    }
    badge.textContent = unseen ? String(unseen) : "";
  }
  // Desktop notifications: the button asks (browsers want a click for that); new unread
  // Inbox mail then shows one while the tab is hidden.
  var notifyButton = document.getElementById("enable-notifications");
  function showNotifyButton() {
    if (notifyButton) notifyButton.hidden = !("Notification" in window) || Notification.permission !== "default";
  }
  if (notifyButton) notifyButton.addEventListener("click", function () {
    Promise.resolve(Notification.requestPermission()).then(showNotifyButton, showNotifyButton);
  });
  showNotifyButton();
  function notify(arrived) {
    if (!notifyButton || !("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
    var n = arrived.count;
    var many = notifyButton.dataset.many.replace("{n}", n.toLocaleString(document.documentElement.lang));
    var latest = (arrived.from ? arrived.from + ": " : "") + (arrived.subject || "");
    var note = n === 1
      ? new Notification(arrived.from || notifyButton.dataset.one, { body: arrived.subject || "", tag: "webmail-new-mail" })
      : new Notification(many, { body: latest, tag: "webmail-new-mail" });
    note.onclick = function () { window.focus(); note.close(); };
  }
  if (window.EventSource) {
    var source = new EventSource("/events/");
    source.addEventListener("folder", function (e) {
      var data = JSON.parse(e.data);
      if (data.unseen !== undefined) updateCount(data.folder, data.unseen);
    });
    source.addEventListener("messages", function (e) {
      var data = JSON.parse(e.data);
      if (unified || watched.indexOf(data.folder) >= 0) refreshList();
      if (data.arrived && data.arrived.count) notify(data.arrived);
    });
    source.addEventListener("undo", function (e) {
      var data = JSON.parse(e.data);
      var ours = String(data.token) === String(undoToken) || String(data.token) === String(undoing);
      if (toast && ours && (data.state === "failed" || data.state === "unavailable")) showToast(toast.dataset[data.state], null);
    });
    source.addEventListener("body", function (e) {
      var data = JSON.parse(e.data);
      var view = document.getElementById("message-view");
      if (view && view.dataset.downloading === "1" && String(data.message) === view.dataset.id) {
        var row = document.querySelector('#rows .row[data-id="' + data.message + '"]');
        if (row) openMessage(row, false); else window.location.reload();
      }
    });
  }

  wireList();
  wireReader();
  scheduleMarkRead();
})();
