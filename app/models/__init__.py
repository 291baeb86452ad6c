"""Per-screen view models: plain Python over the command API, the scanner and the sync engine.

A view renders a model's state and forwards the associate's input to it; a model never imports
Flet, so every screen's behaviour is tested without a browser.
"""
