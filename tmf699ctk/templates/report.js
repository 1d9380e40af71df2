(function () {
  document.documentElement.classList.add("js");
  var body = document.body;
  ["only-failed", "only-mandatory", "only-optional"].forEach(function (name) {
    var box = document.getElementById(name);
    if (box) box.addEventListener("change", function () { body.classList.toggle(name, box.checked); });
  });
  function setAll(open) {
    document.querySelectorAll("#requests details").forEach(function (d) { d.open = open; });
  }
  var expand = document.getElementById("expand-all");
  var collapse = document.getElementById("collapse-all");
  if (expand) expand.addEventListener("click", function () { setAll(true); });
  if (collapse) collapse.addEventListener("click", function () { setAll(false); });
  // a link to a step (from a problem or the rule table) opens the folded sections around it
  function reveal() {
    var target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    for (var el = target; el; el = el.parentElement) { if (el.tagName === "DETAILS") el.open = true; }
    if (target) target.scrollIntoView();
  }
  window.addEventListener("hashchange", reveal);
  reveal();
  // printing (to PDF for a submission) shows everything
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
})();
