// Account form: hide the SMTP login fields while "same login as incoming" is ticked.
(function () {
  "use strict";
  var same = document.getElementById("id_outgoing_same_login");
  var block = document.getElementById("outgoing-login");
  if (!same || !block) return;
  function update() { block.hidden = same.checked; }
  same.addEventListener("change", update);
  update();
})();
