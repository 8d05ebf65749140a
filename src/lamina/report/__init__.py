"""The run report: matplotlib figures and an offline report.html."""
