"""Reports (adapters): self-contained HTML with inline Vega-Lite charts."""

from echelon.reports.batch import batch_report_html, summary_numbers, write_batch_report

__all__ = ["batch_report_html", "summary_numbers", "write_batch_report"]
