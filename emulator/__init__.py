"""A local, protocol-compatible stand-in for Azure Web PubSub (never deployed).

`python -m emulator` runs it; `emulator.app.build_app(config)` embeds it. See README.md.
"""
