"""Importers: turn files into commands for the application service."""
