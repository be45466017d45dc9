// Progressive enhancement: without JavaScript the address is plain selectable text.
for (const b of document.querySelectorAll("button.copy")) {
  if (!navigator.clipboard) continue;
  b.hidden = false;
  b.addEventListener("click", () => {
    navigator.clipboard.writeText(document.getElementById(b.dataset.copy).innerText.trim())
      .then(() => { b.textContent = "Copied"; });
  });
}
