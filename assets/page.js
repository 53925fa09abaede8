// The token page's only script (src/page/): the copy button next to a new token. Everything
// else works without it; without it the token is still selectable in its field.
(function () {
  var button = document.getElementById("copy");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-target"));
  var status = document.getElementById("copied");
  button.hidden = false;
  function done(ok) {
    if (status) status.textContent = ok ? "Copied to the clipboard." : "Select the token and copy it.";
  }
  button.addEventListener("click", function () {
    field.focus();
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { done(true); }, function () { done(false); });
    } else {
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      done(ok);
    }
  });
})();
