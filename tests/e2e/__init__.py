"""End-to-end tests: the workbook in JupyterLab, driven by a real (headless) Chromium through Playwright."""
