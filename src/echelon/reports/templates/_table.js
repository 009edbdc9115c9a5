// Sortable, filterable tables (no dependencies): every <table class="sortable">. A header sorts
// by click or Enter/Space (numbers for th.num or data-type="num", blanks last); an input named by
// the table's data-filter keeps the rows that contain every word typed; data-count shows "N of M".
(function () {
  document.querySelectorAll("table.sortable").forEach((table) => {
    const body = table.tBodies[0];
    const headers = Array.from(table.tHead.rows[0].cells);
    const isNum = (th) => th.dataset.type === "num" || th.classList.contains("num");
    const key = (row, col, num) => {
      const text = row.cells[col].textContent.trim();
      if (text === "") { return null; }
      return num ? parseFloat(text.replace(/,/g, "")) : text.toLowerCase();
    };
    const sortBy = (th) => {
      const col = headers.indexOf(th), num = isNum(th);
      const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      headers.forEach((h) => h.setAttribute("aria-sort", "none"));
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      const rows = Array.from(body.rows);
      rows.sort((a, b) => { const x = key(a, col, num), y = key(b, col, num);
        if (x === null || y === null) { return (x === null) - (y === null); }  // blanks last
        return x < y ? -dir : x > y ? dir : 0; });
      rows.forEach((r) => body.appendChild(r));
    };
    headers.forEach((th) => {
      th.tabIndex = 0;
      if (!th.hasAttribute("aria-sort")) { th.setAttribute("aria-sort", "none"); }
      th.addEventListener("click", () => sortBy(th));
      th.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); } });
    });
    const filter = document.getElementById(table.dataset.filter || "");
    const count = document.getElementById(table.dataset.count || "");
    if (!filter) { return; }
    const update = () => {  // every word must appear somewhere in the row
      const terms = filter.value.toLowerCase().split(/\s+/).filter(Boolean); let shown = 0;
      Array.from(body.rows).forEach((r) => { const text = r.textContent.toLowerCase();
        const hit = terms.every((t) => text.includes(t));
        r.style.display = hit ? "" : "none"; shown += hit; });
      if (count) { count.textContent = shown + " of " + body.rows.length + " " + (table.dataset.noun || "rows"); }
    };
    filter.addEventListener("input", update); update();
  });
})();
