"""Reports: queries over the read models, each following docs/metrics.md."""
