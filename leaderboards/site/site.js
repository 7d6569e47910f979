// attrbench leaderboard: sort tables by a column, filter them by method and subject.
// The pages read without it; it adds buttons to the column headers and shows the filters.
"use strict";
function cellKey(cell) {
  const text = cell ? (cell.dataset.sort || cell.textContent.trim()) : "";
  const number = parseFloat(text.replace("#", "").replace("−", "-"));
  return Number.isNaN(number) ? { text: text } : { number: number, text: text };
}
function compare(a, b) {
  if ("number" in a && "number" in b) return a.number - b.number;
  if ("number" in a) return -1; // numbers before text (–, error, ...) whatever the direction
  if ("number" in b) return 1;
  return a.text.localeCompare(b.text);
}
function sortBy(table, column, header) {
  const descending = header.getAttribute("aria-sort") === "ascending";
  table.querySelectorAll("thead th").forEach((th) => th.removeAttribute("aria-sort"));
  header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  table.querySelectorAll("tbody").forEach((body) => {
    const rows = Array.from(body.rows).filter((row) => !row.classList.contains("group"));
    rows.sort((r, s) => {
      const a = cellKey(r.cells[column]), b = cellKey(s.cells[column]);
      const same = ("number" in a) === ("number" in b); // numbers stay before text either way
      return descending && same ? -compare(a, b) : compare(a, b);
    });
    rows.forEach((row) => body.appendChild(row));
  });
}
function filter() {
  const method = (document.querySelector('[data-filter="method"]') || { value: "" }).value.trim().toLowerCase();
  const subject = (document.querySelector('[data-filter="subject"]') || { value: "" }).value.trim().toLowerCase();
  document.querySelectorAll("table.sortable").forEach((table) => {
    const hidden = new Set();
    table.querySelectorAll("thead th").forEach((th, i) => {
      const off = th.dataset.subject !== undefined && !th.dataset.subject.toLowerCase().includes(subject);
      th.hidden = off;
      if (off) hidden.add(i);
    });
    table.querySelectorAll("tbody tr").forEach((row) => {
      if (row.classList.contains("group")) return;
      Array.from(row.cells).forEach((cell, i) => { cell.hidden = hidden.has(i); });
      const name = row.querySelector("a[href^='method-']");
      row.hidden = method !== "" && !(name && name.textContent.toLowerCase().includes(method));
    });
  });
}
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("thead th").forEach((th, column) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = th.textContent;
      button.title = "Sort by this column";
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", () => sortBy(table, column, th));
    });
  });
  document.querySelectorAll("form.filters").forEach((form) => {
    form.hidden = false;
    form.addEventListener("submit", (event) => event.preventDefault());
  });
  document.querySelectorAll("[data-filter]").forEach((input) => input.addEventListener("input", filter));
});
