// Account page: live folder counts and sync progress from the event stream (/events/).
(function () {
  "use strict";
  var card = document.getElementById("account");
  if (!card || !window.EventSource) return;
  var accountId = Number(card.dataset.account);
  var source = new EventSource("/events/");

  function setText(id, text) {
    var node = document.getElementById(id);
    if (node) node.textContent = text;
  }

  source.addEventListener("folder", function (event) {
    var data = JSON.parse(event.data);
    if (data.account !== accountId) return;
    var row = document.querySelector('#folders tr[data-folder="' + data.folder + '"]');
    if (data.removed) { if (row) row.remove(); return; }
    if (!row) {
      var empty = document.querySelector("#folders .empty-row");
      if (empty) empty.remove();
      row = document.createElement("tr");
      row.dataset.folder = data.folder;
      row.innerHTML = '<td></td><td class="total"></td><td class="unseen"></td>';
      row.firstChild.textContent = data.name;
      document.querySelector("#folders tbody").appendChild(row);
    }
    row.querySelector(".total").textContent = data.total;
    row.querySelector(".unseen").textContent = data.unseen;
  });

  source.addEventListener("sync", function (event) {
    var data = JSON.parse(event.data);
    if (data.account !== accountId) return;
    var error = document.getElementById("account-error");
    if (data.state === "running") {
      setText("account-status", card.dataset.labelSyncing);
      setText("sync-progress", data.done + " / " + data.total);
    } else if (data.state === "done") {
      setText("account-status", card.dataset.labelOk);
      setText("sync-progress", "✓");
      if (error) error.hidden = true;
    } else if (data.state === "error") {
      setText("account-status", card.dataset.labelError);
      if (error) { error.textContent = data.error; error.hidden = false; }
    }
  });
})();
