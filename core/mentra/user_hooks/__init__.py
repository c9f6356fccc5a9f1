"""User hooks: commands that see, veto and rewrite what the agent does (issue #19).

`config` is the ``hooks:`` block, `runner` runs one command by the protocol, `gates` holds one
function per point of a run (the hook pipeline's user entries), `sources` gathers the hooks of
an agent from its config and the trusted policy files.
"""
