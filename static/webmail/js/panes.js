// Resizable mailbox panes: two splitters (folders | list, list | reader) set --folders-width
// and --list-width, in percent of .panes, which app.css clamps so every pane stays usable.
// Loaded in <head> without defer (the CSP allows no inline script): the stored widths go on
// the root element before the first paint, and .panes inherits them; the splitters are wired
// once the page is parsed.
(function () {
  "use strict";
  var KEY = "webmail.panes";
  var root = document.documentElement;

  function load() {
    try { return JSON.parse(window.localStorage.getItem(KEY)) || {}; } catch (e) { return {}; }
  }
  function save(widths) {
    try { window.localStorage.setItem(KEY, JSON.stringify(widths)); } catch (e) { /* storage off */ }
  }
  var widths = load();
  ["folders", "list"].forEach(function (name) {
    if (typeof widths[name] === "number") root.style.setProperty("--" + name + "-width", widths[name] + "%");
  });

  function wire() {
    var panes = document.getElementById("panes");
    if (!panes) return;
    var rtl = getComputedStyle(panes).direction === "rtl";

    function percentOf(pane) {
      return pane.getBoundingClientRect().width / panes.clientWidth * 100;
    }
    function round(value) { return Math.round(value * 10) / 10; }
    var refreshers = [];

    document.querySelectorAll("#panes > .splitter").forEach(function (splitter) {
      var name = splitter.dataset.pane;
      var prop = "--" + name + "-width";
      var pane = document.getElementById(splitter.getAttribute("aria-controls"));
      var min = 0, max = 100;

      // The clamps live in app.css only: find them by asking for 0% and 100%.
      function measureBounds() {
        var current = root.style.getPropertyValue(prop);
        root.style.setProperty(prop, "0%");
        min = percentOf(pane);
        root.style.setProperty(prop, "100%");
        max = percentOf(pane);
        if (current) root.style.setProperty(prop, current); else root.style.removeProperty(prop);
        splitter.setAttribute("aria-valuemin", String(round(min)));
        splitter.setAttribute("aria-valuemax", String(round(max)));
      }
      function show() { splitter.setAttribute("aria-valuenow", String(round(percentOf(pane)))); }
      function setWidth(percent) {
        percent = Math.round(Math.min(max, Math.max(min, percent)) * 100) / 100;
        root.style.setProperty(prop, percent + "%");
        widths[name] = percent;
        save(widths);
        show();
      }
      function reset() {
        root.style.removeProperty(prop);
        delete widths[name];
        save(widths);
        refresh();
      }
      refreshers.push(function () { measureBounds(); show(); });

      // Keys follow the screen: Right moves the splitter right, which in RTL narrows the pane.
      splitter.addEventListener("keydown", function (e) {
        var step = e.shiftKey ? 10 : 1;
        var now = percentOf(pane);
        if (e.key === "ArrowRight") setWidth(now + (rtl ? -step : step));
        else if (e.key === "ArrowLeft") setWidth(now + (rtl ? step : -step));
        else if (e.key === "Home") setWidth(min);
        else if (e.key === "End") setWidth(max);
        else if (e.key === "Enter") reset();
        else return;
        e.preventDefault();
        e.stopPropagation();  // not the mailbox's own keys (Enter opens a message)
        if (e.key !== "Enter") refresh();
      });
      splitter.addEventListener("dblclick", reset);

      splitter.addEventListener("pointerdown", function (e) {
        if (e.button !== 0) return;
        e.preventDefault();
        splitter.focus();
        splitter.setPointerCapture(e.pointerId);
        measureBounds();
        var startX = e.clientX;
        var startWidth = pane.getBoundingClientRect().width;
        var total = panes.clientWidth;
        panes.classList.add("resizing");
        splitter.classList.add("dragging");
        function move(m) {
          var dx = (m.clientX - startX) * (rtl ? -1 : 1);
          setWidth((startWidth + dx) / total * 100);
        }
        function end() {
          panes.classList.remove("resizing");
          splitter.classList.remove("dragging");
          splitter.removeEventListener("pointermove", move);
          splitter.removeEventListener("pointerup", end);
          splitter.removeEventListener("pointercancel", end);
          refresh();
        }
        splitter.addEventListener("pointermove", move);
        splitter.addEventListener("pointerup", end);
        splitter.addEventListener("pointercancel", end);
      });
      splitter.hidden = false;
    });

    // The list's bounds depend on the folder pane's width, and both on the window's.
    function refresh() {
      if (!panes.clientWidth) return;  // not laid out (printing)
      refreshers.forEach(function (r) { r(); });
    }
    var pending = false;
    window.addEventListener("resize", function () {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(function () { pending = false; refresh(); });
    });
    refresh();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
