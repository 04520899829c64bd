(function () {
  "use strict";
  // Offline filters for the findings list. The page's CSP allows exactly this script (by
  // hash); data arrives through the JSON block, never through string-built HTML.
  var dataNode = document.getElementById("report-data");
  var data = dataNode ? JSON.parse(dataNode.textContent) : { i18n: {} };
  var panel = document.getElementById("filters");
  if (panel) {
    var boxes = Array.prototype.slice.call(panel.querySelectorAll("input[name=severity]"));
    var category = document.getElementById("filter-category");
    var reset = document.getElementById("filter-reset");
    var status = document.getElementById("filter-status");
    var empty = document.getElementById("filter-empty");
    var findings = Array.prototype.slice.call(document.querySelectorAll("article[data-finding]"));
    var marks = Array.prototype.slice.call(document.querySelectorAll("[data-finding-mark]"));

    var apply = function () {
      var allowed = {};
      boxes.forEach(function (box) { allowed[box.value] = box.checked; });
      var wanted = category.value;
      var visible = function (node) {
        return allowed[node.getAttribute("data-severity")] === true &&
          (wanted === "" || node.getAttribute("data-category") === wanted);
      };
      var shown = 0;
      findings.forEach(function (node) {
        var ok = visible(node);
        node.classList.toggle("is-filtered", !ok);
        if (ok) { shown += 1; }
      });
      marks.forEach(function (node) {
        node.classList.toggle("is-filtered", !visible(node));
      });
      var template = String(data.i18n.status || "{shown}/{total}");
      status.textContent = template.replace("{shown}", String(shown))
        .replace("{total}", String(findings.length));
      empty.hidden = shown !== 0;
    };

    boxes.forEach(function (box) { box.addEventListener("change", apply); });
    category.addEventListener("change", apply);
    reset.addEventListener("click", function () {
      boxes.forEach(function (box) { box.checked = true; });
      category.value = "";
      apply();
    });
    panel.hidden = false;
    apply();
  }

  // Print everything: open collapsed sections while printing, restore afterwards.
  var reopened = [];
  window.addEventListener("beforeprint", function () {
    reopened = Array.prototype.slice.call(document.querySelectorAll("details:not([open])"));
    reopened.forEach(function (node) { node.open = true; });
  });
  window.addEventListener("afterprint", function () {
    reopened.forEach(function (node) { node.open = false; });
    reopened = [];
  });
  document.documentElement.setAttribute("data-js", "ready");
})();
