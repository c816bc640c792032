"""Runs CodeStream on one machine: function_app's routes, the built client, the emulator.

Never deployed (see .funcignore). `python -m devhost --help`.
"""
