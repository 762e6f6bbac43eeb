"""Shared web shell: templates, static assets served locally (no CDN), i18n."""
